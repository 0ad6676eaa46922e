//! The independent auditor ([`audit`]): every epoch of a server's key directory since
//! the last audit must extend the one before; and the check of an append-only proof that
//! devices use too ([`verify_audit`]).

use hush_core::kt::{self, Root};
use hush_proto as proto;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{kt_err, root_of};
use crate::ClientError;

/// Verifies an append-only proof from `start` to `end`; returns the root hashes.
pub async fn verify_audit(start: u64, end: u64, audit: &proto::KtAudit) -> Result<Vec<[u8; 32]>, ClientError> {
    if end <= start {
        return Err(kt_err("an empty audit range"));
    }
    let expected = usize::try_from(end - start + 1).map_err(kt_err)?;
    if audit.hashes.len() != expected {
        return Err(kt_err(format!(
            "the append-only proof names {} roots for epochs {start}..={end}",
            audit.hashes.len()
        )));
    }
    let mut hashes = Vec::with_capacity(expected);
    for h in &audit.hashes {
        let arr: [u8; 32] = h.0.as_slice().try_into().map_err(|_| kt_err("a malformed root hash in the append-only proof"))?;
        hashes.push(arr);
    }
    let proof: akd::AppendOnlyProof =
        serde_json::from_slice(&audit.proof.0).map_err(|_| kt_err("the append-only proof is malformed"))?;
    akd::auditor::audit_verify::<kt::Config>(hashes.clone(), proof)
        .await
        .map_err(|e| kt_err(format!("the append-only proof does not verify: {e:?}")))?;
    Ok(hashes)
}

/// What an auditor remembers between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditState {
    /// The directory's VRF public key.
    pub vrf_public_key: Vec<u8>,
    /// The latest root audited.
    pub root: Root,
}

/// The result of an audit.
#[derive(Debug, Clone)]
pub struct AuditReport {
    /// First epoch of the range checked this run.
    pub from: u64,
    /// Latest epoch, now audited.
    pub to: u64,
    /// What to remember for the next run.
    pub state: AuditState,
}

/// Audits a server's key directory as an independent auditor: every epoch since the last
/// audit (or since the first) must be an append-only extension of the one before, the
/// root remembered from the last run must still be there, and the directory must not have
/// gone back.
pub async fn audit(server: &str, trust: &crate::tls::Trust, previous: Option<&AuditState>) -> Result<AuditReport, ClientError> {
    const CHUNK: u64 = 64;
    let api = crate::api::Api::new(server, trust)?;
    let info: proto::KtInfo = api.call::<(), _>(None, Method::GET, "/v1/kt/info", None).await?;
    let latest = root_of(&info.root)?;
    let mut from = 1;
    if let Some(prev) = previous {
        if prev.vrf_public_key != info.vrf_public_key.0 {
            return Err(kt_err("the directory's VRF key is not the one audited before"));
        }
        if latest.epoch < prev.root.epoch {
            return Err(kt_err(format!(
                "the directory was rolled back: it is at epoch {}, but epoch {} was audited before",
                latest.epoch, prev.root.epoch
            )));
        }
        if latest.epoch == prev.root.epoch && latest.hash != prev.root.hash {
            return Err(kt_err(format!("the directory's root for epoch {} changed since the last audit", latest.epoch)));
        }
        from = prev.root.epoch;
    }
    let mut last: Option<[u8; 32]> = previous.map(|p| p.root.hash);
    let mut start = from;
    while start < latest.epoch {
        let end = (start + CHUNK).min(latest.epoch);
        let audit: proto::KtAudit = api
            .call::<(), _>(None, Method::GET, &format!("/v1/kt/audit?start={start}&end={end}"), None)
            .await?;
        let hashes = verify_audit(start, end, &audit).await?;
        if let Some(prev_hash) = last
            && hashes.first() != Some(&prev_hash)
        {
            return Err(kt_err(format!(
                "the directory's root for epoch {start} is not the one audited before: it was rolled back or forked"
            )));
        }
        last = hashes.last().copied();
        start = end;
    }
    if latest.epoch > from && last != Some(latest.hash) {
        return Err(kt_err("the latest root is not the end of the audited chain"));
    }
    Ok(AuditReport {
        from,
        to: latest.epoch,
        state: AuditState { vrf_public_key: info.vrf_public_key.0, root: latest },
    })
}
