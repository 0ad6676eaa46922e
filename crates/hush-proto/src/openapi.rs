//! The OpenAPI 3.1 document of API v1, built from [`endpoints`] (every
//! endpoint [`every_endpoint!`](crate::every_endpoint) names, its method, path, access,
//! query and bodies) and the wire types' schemas (`utoipa`). `hush server` serves it at
//! `GET /v1/openapi.json`; docs/openapi.json is a copy a test keeps equal.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required};
use utoipa::{PartialSchema, ToSchema};

use crate::endpoints::*;
use crate::*;

/// Schemas by name, for the document's components.
type Schemas = Vec<(String, RefOr<Schema>)>;

/// What travels as a request or an answer body, as the document describes it.
trait Body {
    /// Status of a successful answer carrying this body.
    const STATUS: u16 = 200;
    /// Its media type and schema; `None`: no body.
    fn content() -> Option<(&'static str, RefOr<Schema>)>;
    /// The named schemas its schema refers to.
    fn schemas(_out: &mut Schemas) {}
}

impl Body for () {
    const STATUS: u16 = 204;
    fn content() -> Option<(&'static str, RefOr<Schema>)> {
        None
    }
}

impl Body for RawBytes {
    fn content() -> Option<(&'static str, RefOr<Schema>)> {
        let bytes = ObjectBuilder::new().schema_type(Type::String).format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Binary,
        )));
        Some(("application/octet-stream", bytes.into()))
    }
}

impl Body for PlainText {
    fn content() -> Option<(&'static str, RefOr<Schema>)> {
        Some(("text/plain", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["ok"])).into()))
    }
}

impl Body for Upgrade {
    const STATUS: u16 = 101;
    fn content() -> Option<(&'static str, RefOr<Schema>)> {
        None
    }
}

impl Body for serde_json::Value {
    fn content() -> Option<(&'static str, RefOr<Schema>)> {
        Some(("application/json", ObjectBuilder::new().schema_type(Type::Object).into()))
    }
}

/// JSON bodies: a reference to the type's schema among the components.
macro_rules! json_bodies {
    ($($t:ty),+ $(,)?) => {$(
        impl Body for $t {
            fn content() -> Option<(&'static str, RefOr<Schema>)> {
                Some(("application/json", RefOr::Ref(Ref::from_schema_name(<$t as ToSchema>::name()))))
            }
            fn schemas(out: &mut Schemas) {
                out.push((<$t as ToSchema>::name().into_owned(), <$t as PartialSchema>::schema()));
                <$t as ToSchema>::schemas(out);
            }
        }
    )+};
}

json_bodies!(
    RegisterRequest, RegisteredDevice, DeviceUpload, OwnDevices, UserRecord, ClaimResponse,
    KeyPackageUpload, KeyPackageCount, CreateGroupRequest, GroupInfo, CommitRequest, Accepted,
    MessageRequest, InboxResponse, AckRequest, LinkRequest, LinkCreated, PendingLinks, LinkStatus,
    LinkAnswer, LinkDevice, LinkApproval, KtInfo, KtLookup, KtHistory, KtAudit, BackupUpload, Backup,
    GuardianRequest, GuardianRequestCreated, PendingGuardianRequests, GuardianShares, SealedShare,
    UploadStart, UploadStatus, BlobInfo, SpaceView, SpaceUpdate, SpaceVersion, SpaceStates, Quota,
);

/// A regular expression for exactly the strings [`B64`] reads: unpadded base64url whose
/// unused trailing bits are zero.
pub const B64_PATTERN: &str = "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$";

impl PartialSchema for B64 {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(B64_PATTERN))
            .description(Some("Bytes as unpadded base64url (RFC 4648 §5, no `=`)."))
            .into()
    }
}

impl ToSchema for B64 {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("B64")
    }
}

/// The names of the security schemes every signed request satisfies together: the
/// `x-hush-*` headers.
const SIGNATURE_SCHEMES: [(&str, &str, &str); 4] = [
    ("hush-device", HEADER_DEVICE, "The calling device's id (or `recovery` for a request signed with the recovery auth key)."),
    ("hush-timestamp", HEADER_TIMESTAMP, "Unix time in milliseconds when the request was signed; at most 5 minutes from the server's clock."),
    ("hush-nonce", HEADER_NONCE, "16 to 64 hex characters, never used before by this device."),
    (
        "hush-signature",
        HEADER_SIGNATURE,
        "The Ed25519 signature (unpadded base64url, 64 bytes) by the device's key over \
         `hush_core::auth::canonical_request`: the UTF-8 text \
         `hush-request-v1\\nMETHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body))`, with the \
         path and query exactly as sent.",
    ),
];

/// `text` without the blank space its doc comment lines start with.
fn doc_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `{name}`s of a path template.
fn path_params(template: &str) -> Vec<&str> {
    template.split('{').skip(1).filter_map(|s| s.split_once('}').map(|(name, _)| name)).collect()
}

/// The document's operation for endpoint `E`, and the schemas it refers to.
fn operation<E>(id: &str, schemas: &mut Schemas) -> Operation
where
    E: Endpoint,
    E::Request: Body,
    E::Response: Body,
{
    let doc = doc_text(E::DOC);
    let tag = E::PATH.trim_start_matches("/v1/").split(['/', '.']).next().unwrap_or_default();
    let mut op = OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(doc.clone()))
        .tag(if tag.is_empty() || tag == "/health" { "health" } else { tag });
    for name in path_params(E::PATH) {
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(String::schema())),
        );
    }
    for q in E::QUERY {
        let schema = match q.kind {
            ParamType::I64 => i64::schema(),
            ParamType::U32 => u32::schema(),
            ParamType::U64 => u64::schema(),
            ParamType::Text => String::schema(),
        };
        op = op.parameter(
            ParameterBuilder::new()
                .name(q.name)
                .parameter_in(ParameterIn::Query)
                .required(if q.required { Required::True } else { Required::False })
                .description(Some(q.doc))
                .schema(Some(schema)),
        );
    }
    if let Some((media, schema)) = E::Request::content() {
        E::Request::schemas(schemas);
        op = op.request_body(Some(
            RequestBodyBuilder::new().required(Some(Required::True)).content(media, Content::new(Some(schema))).build(),
        ));
    }
    let status = if E::CREATED { 201 } else { E::Response::STATUS };
    let mut success = ResponseBuilder::new().description(match status {
        101 => "Switching to the WebSocket protocol.",
        201 => "Created.",
        204 => "Done; no body.",
        _ => "The answer.",
    });
    if let Some((media, schema)) = E::Response::content() {
        E::Response::schemas(schemas);
        success = success.content(media, Content::new(Some(schema)));
    }
    op = op
        .response(status.to_string(), success)
        .response("429", RefOr::Ref(Ref::from_response_name("TooManyRequests")))
        .response("default", RefOr::Ref(Ref::from_response_name("Error")));
    if E::ACCESS == Access::Signed {
        let requirement = SIGNATURE_SCHEMES
            .iter()
            .fold(SecurityRequirement::default(), |req, (name, _, _)| req.add(*name, Vec::<String>::new()));
        op = op.security(requirement);
    }
    op.build()
}

/// The method as the document names it.
fn http_method(method: Method) -> HttpMethod {
    match method {
        Method::Get => HttpMethod::Get,
        Method::Post => HttpMethod::Post,
        Method::Put => HttpMethod::Put,
    }
}

/// `(method, path, operation)` for every endpoint, with the schemas they refer to.
macro_rules! operations {
    ($($name:ident),+ $(,)?) => {
        |schemas: &mut Schemas| vec![$(
            ($name::METHOD, $name::PATH, operation::<$name>(stringify!($name), schemas))
        ),+]
    };
}

/// The OpenAPI document of API v1.
pub fn document() -> OpenApi {
    let mut schemas = Schemas::new();
    let build = crate::every_endpoint!(operations);
    let mut paths = PathsBuilder::new();
    for (method, path, op) in build(&mut schemas) {
        paths = paths.path(path, PathItem::new(http_method(method), op));
    }
    schemas.push((ErrorBody::name().into_owned(), ErrorBody::schema()));
    let error = || {
        Content::new(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
    };
    let mut components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .response(
            "Error",
            ResponseBuilder::new()
                .description("Any failure: a stable code (`error`) and one sentence for a person (`message`).")
                .content("application/json", error()),
        )
        .response(
            "TooManyRequests",
            ResponseBuilder::new()
                .description("Too many requests, or a recipient's queue is full: try again after `Retry-After` seconds.")
                .content("application/json", error())
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
                        .description(Some("Seconds to wait before trying again."))
                        .build(),
                ),
        );
    for (name, header, description) in SIGNATURE_SCHEMES {
        components = components
            .security_scheme(name, SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(header, description))));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("hush API")
                .version("1")
                .description(Some(
                    "The HTTP API of hush, version 1, generated from `hush_proto::endpoints` and the wire types of \
                     `hush_proto`. Every binary field is unpadded base64url. A signed request carries the four \
                     `x-hush-*` headers (the security schemes); see docs/PROTOCOL.md.",
                )),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
}

/// The document as pretty JSON with a final newline: docs/openapi.json.
pub fn document_json() -> String {
    let mut json = document().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_is_an_operation_of_the_document() {
        let doc = serde_json::to_value(document()).unwrap_or_default();
        for (method, path) in ALL {
            let op = &doc["paths"][path][method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{} {path} is missing from the document", method.as_str());
            assert!(op["responses"]["default"].is_object(), "{} {path} has no error answer", method.as_str());
        }
        let operations: usize =
            doc["paths"].as_object().map(|p| p.values().filter_map(|i| i.as_object()).map(|i| i.len()).sum()).unwrap_or(0);
        assert_eq!(operations, ALL.len());
    }

    #[test]
    fn the_b64_pattern_matches_what_b64_reads() {
        let re = |s: &str| serde_json::from_str::<B64>(&format!("\"{s}\"")).is_ok();
        for s in ["", "AA", "AAE", "AAEC", "AAEC-vv_", "-w", "_-8"] {
            assert!(re(s), "{s} should read");
        }
        for s in ["A", "AB", "AAF", "AA==", "AA+/", "AAECA"] {
            assert!(!re(s), "{s} should not read");
        }
    }
}
