//! The JSON wire types of API v1 (hush-proto), as the server parses request bodies and the
//! client parses answers. The first byte picks the type; whatever parses must serialize
//! and parse again.
#![no_main]

use hush_proto::*;
use libfuzzer_sys::fuzz_target;

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let again = serde_json::to_vec(&v).unwrap();
        serde_json::from_slice::<T>(&again).unwrap();
    }
}

macro_rules! types {
    ($which:expr, $data:expr, $($t:ty),+ $(,)?) => {{
        let table: &[fn(&[u8])] = &[$(round_trip::<$t>),+];
        table[usize::from($which) % table.len()]($data)
    }};
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    types!(
        which, rest,
        InboxKind, Accepted, AckRequest, Backup, BackupUpload, BlobInfo, ClaimResponse, ClaimedKeyPackage,
        CommitRequest, CreateGroupRequest, DeviceRecord, DeviceUpload, ErrorBody, GroupInfo, GuardianRequest,
        GuardianRequestCreated, GuardianShares, InboxItem, InboxResponse, KeyPackageCount, KeyPackageUpload,
        KtAudit, KtHistory, KtInfo, KtLookup, KtRestore, KtRoot, LinkAnswer, LinkApproval, LinkCreated,
        LinkDevice, LinkRequest, LinkStatus, MessageRequest, OwnDevice, OwnDevices, PendingGuardianRequest,
        PendingGuardianRequests, PendingLink, PendingLinks, Quota, RegisterRequest, RegisteredDevice,
        SealedShare, SpaceRow, SpaceStates, SpaceStatesQuery, SpaceUpdate, SpaceVersion, SpaceView,
        UploadStart, UploadStatus, UserRecord,
    );
});
