//! The OpenAPI document's cross-cutting parts, applied to every operation
//! after the handlers' own annotations:
//!
//! - the bearer scheme, with the `operator` role on operator-only
//!   operations;
//! - the refusals an operation can answer by the way it is reached — its
//!   credentials (401, 403), its tenant and other path parameters (404),
//!   its query (400), its body (400, 413) — and the 500 any of them can
//!   answer when the server itself fails; a handler's own annotation of a
//!   status wins over these;
//! - the `Retry-After` and `WWW-Authenticate` headers those answers carry;
//! - this server's own limits ([`ServerLimits`]: the largest tenant limits
//!   it grants);
//! - links from the operations that create things to the ones that use
//!   them, so a client (or a contract tester) can follow real ids.

use utoipa::openapi::link::{Link, LinkBuilder};
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Object, ObjectBuilder, Schema, SchemaType};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, Required, SchemaFormat, Type};

use crate::registry::TenantLimits;

/// The role operator-only operations require in their security
/// requirement; tenant operations require none (any valid credential).
pub const OPERATOR_ROLE: &str = "operator";

/// Registers the bearer scheme.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator token, or a tenant key `rh_<id>_<secret>`. Operations that require the \
                         `operator` role refuse tenant keys (403).",
                    ))
                    .build(),
            ),
        );
    }
}

/// Adds to every operation the refusals of how it is reached, and the
/// links between operations.
pub struct Refusals;

impl utoipa::Modify for Refusals {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations(item) {
                refusals(path, operation);
                media(operation);
                described(operation);
            }
        }
        links(openapi);
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// An error answer: the API's error body, with `description`.
pub fn error(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

fn with_header(mut response: Response, name: &str, description: &str) -> Response {
    response.headers.insert(
        name.to_owned(),
        RefOr::T(
            HeaderBuilder::new()
                .schema(Some(Object::with_type(Type::String)))
                .description(Some(description))
                .build(),
        ),
    );
    response
}

/// Operations that run the tenant's plugins, and so can answer what a
/// decision can: the tenant disabled or without a pipeline, a plugin that
/// failed or ran past its deadline, too many decisions at once, the
/// server not ready or out of instance slots, the tenant's plugins not
/// loadable.
const RUNS_PLUGINS: [&str; 4] = ["decide", "decide_batch", "simulate", "replay"];

fn add(operation: &mut Operation, status: &str, response: Response) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert(RefOr::T(response));
}

/// Every response has a description (OpenAPI requires one; generators
/// refuse a document without): the status's own words where the handler
/// gave none.
fn described(operation: &mut Operation) {
    for (status, response) in operation.responses.responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.trim().is_empty()
        {
            response.description = status
                .parse::<u16>()
                .ok()
                .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                .and_then(|s| s.canonical_reason())
                .unwrap_or("The answer")
                .to_owned();
        }
    }
}

fn refusals(path: &str, operation: &mut Operation) {
    let roles: Vec<String> = operation
        .security
        .iter()
        .flatten()
        .filter_map(|requirement| serde_json::to_value(requirement).ok())
        .filter_map(|value| value.get("bearer").cloned())
        .filter_map(|roles| serde_json::from_value::<Vec<String>>(roles).ok())
        .flatten()
        .collect();
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    if secured {
        add(
            operation,
            "401",
            with_header(
                error(
                    "No credentials, or a token that is no valid key (`unauthorized`, with `reason` \
                     `missing_credentials` or `invalid_credentials`)",
                ),
                "WWW-Authenticate",
                "`Bearer`",
            ),
        );
        if roles.iter().any(|r| r == OPERATOR_ROLE) {
            add(
                operation,
                "403",
                error("A tenant key on an operator endpoint (`forbidden`)"),
            );
        } else if path.contains("{tenant}") {
            add(operation, "403", error("The tenant is disabled (`tenant_disabled`)"));
        }
    }
    let mut in_query = false;
    for parameter in operation.parameters.iter_mut().flatten() {
        let RefOr::T(parameter) = parameter else { continue };
        match parameter.parameter_in {
            ParameterIn::Query => in_query = true,
            ParameterIn::Path => parameter.schema = Some(path_parameter(&parameter.name)),
            _ => {}
        }
    }
    if path.contains('{') {
        let what = if path.contains("{tenant}") {
            "No such tenant (a tenant key of another tenant sees the same), or no such resource (`not_found`)"
        } else {
            "No such resource (`not_found`)"
        };
        add(operation, "404", error(what));
    }
    let body = operation.request_body.is_some();
    if in_query || body {
        add(
            operation,
            "400",
            error(
                "The request breaks the documented shape or a rule the server checks; the message names \
                 the field (`invalid_json`, `invalid_request`, `invalid_input`)",
            ),
        );
    }
    if body {
        add(
            operation,
            "413",
            error("The body (or one NDJSON line) is larger than the server's limit (`payload_too_large`)"),
        );
    }
    if operation
        .operation_id
        .as_deref()
        .is_some_and(|id| RUNS_PLUGINS.contains(&id))
    {
        add(operation, "403", error("The tenant is disabled (`tenant_disabled`)"));
        add(
            operation,
            "409",
            error("The tenant's pipeline runs no plugin (`no_pipeline`)"),
        );
        add(
            operation,
            "422",
            error(
                "A plugin failed: `plugin_trap`, `plugin_out_of_fuel`, `plugin_out_of_memory`, \
                 `plugin_invalid_output`, `plugin_error`",
            ),
        );
        add(
            operation,
            "429",
            error("Over the tenant's decisions at once, or another simulation runs (`too_many_requests`)"),
        );
        add(
            operation,
            "503",
            error(
                "The server is still starting (`not_ready`), every instance slot is in use (`host_busy`), or \
                 the tenant's plugins cannot be loaded (`tenant_unavailable`)",
            ),
        );
        add(
            operation,
            "504",
            error("A plugin ran past its deadline (`plugin_timeout`)"),
        );
    }
    // Answers that say when to try again carry Retry-After (not all do:
    // `tenant_unavailable` waits for a repair, not for time).
    for status in ["429", "503"] {
        if let Some(RefOr::T(response)) = operation.responses.responses.get_mut(status) {
            let with = with_header(response.clone(), "Retry-After", "Seconds to wait before trying again");
            *response = with;
        }
    }
    add(
        operation,
        "500",
        error(
            "The server itself failed (`internal`, details in the server's log) or stored data failed its \
             integrity check (`storage_corrupt`)",
        ),
    );
}

/// Bodies that are not JSON: a component's bytes, and NDJSON whose every
/// line is a JSON document of a named schema.
fn media(operation: &mut Operation) {
    if let Some(RefOr::T(body)) = operation.request_body.as_mut() {
        for (media_type, entry) in body.content.iter_mut() {
            media_schema(media_type, entry);
        }
        // No lines is a valid NDJSON body (zero customers or decisions).
        if body.content.contains_key("application/x-ndjson") {
            body.required = Some(Required::False);
        }
    }
    for response in operation.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            for (media_type, entry) in response.content.iter_mut() {
                media_schema(media_type, entry);
            }
        }
    }
}

fn media_schema(media_type: &str, entry: &mut RefOr<utoipa::openapi::Content>) {
    let description = match media_type {
        "application/wasm" | "application/octet-stream" => "The bytes of a WebAssembly component",
        "application/x-ndjson" => {
            "Newline-delimited JSON: one JSON document per line (the operation says of which schema); blank \
             lines are skipped"
        }
        _ => return,
    };
    let RefOr::T(entry) = entry else { return };
    let mut schema = Object::with_type(Type::String);
    schema.content_media_type = media_type.to_owned();
    schema.description = Some(description.into());
    if media_type != "application/x-ndjson" {
        // `binary` as OpenAPI 3.0 said it, which generators still read.
        schema.format = Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Binary));
    }
    entry.schema = Some(RefOr::T(Schema::Object(schema)));
}

/// The schema of a path parameter, by its name: identifiers and versions
/// as the server checks them, anything else a non-empty string.
fn path_parameter(name: &str) -> RefOr<Schema> {
    let schema = match name {
        "tenant" | "slot" | "name" => crate::model::schema::id(),
        "version" => crate::model::schema::version(),
        _ => crate::model::schema::nonempty(),
    };
    RefOr::T(Schema::Object(schema))
}

/// States what the server refuses in every string it reads: a NUL
/// character (see `model::parse_json` and the URL check in `api`). Each
/// string schema of a request — parameters, JSON bodies and the
/// components they refer to — without a pattern, format or enumeration of
/// its own gets the pattern, and each map's keys the same. Answers are left as
/// they are (an error message may quote what was refused).
pub struct NoNul;

/// A string with no NUL character.
const NO_NUL: &str = "^[^\\x00]*$";

impl utoipa::Modify for NoNul {
    fn modify(&self, openapi: &mut OpenApi) {
        let mut referred = Vec::new();
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let RefOr::T(parameter) = parameter
                        && let Some(schema) = parameter.schema.as_mut()
                    {
                        no_nul(schema, &mut referred);
                    }
                }
                if let Some(RefOr::T(body)) = operation.request_body.as_mut() {
                    // An NDJSON or wasm body is not one JSON value: the server
                    // answers each NDJSON line on its own.
                    for (_, content) in body
                        .content
                        .iter_mut()
                        .filter(|(media, _)| *media == "application/json")
                    {
                        if let RefOr::T(content) = content
                            && let Some(schema) = content.schema.as_mut()
                        {
                            no_nul(schema, &mut referred);
                        }
                    }
                }
            }
        }
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let mut done = std::collections::BTreeSet::new();
        while let Some(name) = referred.pop() {
            if done.insert(name.clone())
                && let Some(schema) = components.schemas.get_mut(&name)
            {
                no_nul(schema, &mut referred);
            }
        }
    }
}

/// Adds the pattern within `schema`; the components it refers to go into
/// `referred`.
fn no_nul(schema: &mut RefOr<Schema>, referred: &mut Vec<String>) {
    match schema {
        RefOr::T(schema) => no_nul_in(schema, referred),
        RefOr::Ref(r) => {
            if let Some(name) = r.ref_location.strip_prefix("#/components/schemas/") {
                referred.push(name.to_owned());
            }
        }
    }
}

fn no_nul_in(schema: &mut Schema, referred: &mut Vec<String>) {
    let mut each = |items: &mut Vec<RefOr<Schema>>| items.iter_mut().for_each(|item| no_nul(item, referred));
    match schema {
        Schema::Object(object) => {
            let string = match &object.schema_type {
                SchemaType::Type(t) => *t == Type::String,
                SchemaType::Array(types) => types.contains(&Type::String),
                SchemaType::AnyValue => false,
            };
            if string && object.pattern.is_none() && object.format.is_none() && object.enum_values.is_none() {
                object.pattern = Some(NO_NUL.into());
            }
            object.properties.values_mut().for_each(|p| no_nul(p, referred));
            if let Some(values) = object.additional_properties.as_deref_mut() {
                if let AdditionalProperties::RefOr(values) = values {
                    no_nul(values, referred);
                }
                let keys = object.property_names.get_or_insert_with(|| {
                    Box::new(Schema::Object(ObjectBuilder::new().schema_type(Type::String).build()))
                });
                no_nul_in(keys, referred);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                no_nul(items, referred);
            }
        }
        Schema::OneOf(one_of) => each(&mut one_of.items),
        Schema::AllOf(all_of) => each(&mut all_of.items),
        Schema::AnyOf(any_of) => each(&mut any_of.items),
        _ => {}
    }
}

/// The largest limits this server grants a tenant, stated in the
/// document's `TenantLimits` schema.
pub struct ServerLimits(pub TenantLimits);

impl utoipa::Modify for ServerLimits {
    fn modify(&self, openapi: &mut OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Some(RefOr::T(Schema::Object(limits))) = components.schemas.get_mut("TenantLimits") else {
            return;
        };
        let max = &self.0;
        for (field, maximum) in [
            ("max_plugin_bytes", max.max_plugin_bytes),
            ("memory_bytes", max.memory_bytes),
            ("deadline_ms", max.deadline_ms),
            ("fuel", max.fuel),
            ("max_concurrent_decisions", u64::from(max.max_concurrent_decisions)),
            ("profile_events", u64::from(max.profile_events)),
            ("profile_days", u64::from(max.profile_days)),
        ] {
            if let Some(RefOr::T(Schema::Object(property))) = limits.properties.get_mut(field) {
                property.minimum = Some(1.into());
                property.maximum = Some(maximum.into());
                property.format = Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64));
            }
        }
    }
}

/// The longest a read of the touches feed may wait on this server, stated
/// as the `wait` parameter's maximum.
pub struct FeedWait(pub u32);

impl utoipa::Modify for FeedWait {
    fn modify(&self, openapi: &mut OpenApi) {
        let Some(item) = openapi.paths.paths.get_mut("/v1/tenants/{tenant}/touches") else {
            return;
        };
        let Some(get) = item.get.as_mut() else {
            return;
        };
        for parameter in get.parameters.iter_mut().flatten() {
            let RefOr::T(parameter) = parameter else {
                continue;
            };
            if parameter.name == "wait"
                && let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut()
            {
                schema.maximum = Some(self.0.into());
                parameter.description = Some(format!(
                    "Seconds to wait for a delivery when there is none yet, 0–{} (default 0: answer at once)",
                    self.0
                ));
            }
        }
    }
}

/// `(from operation, its success status, link name, to operation,
/// parameters, request body)`: what an answer lets a client do next.
type LinkSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<serde_json::Value>,
);

fn link_specs() -> Vec<LinkSpec> {
    const TENANT: (&str, &str) = ("tenant", "$response.body#/id");
    const SAME_TENANT: (&str, &str) = ("tenant", "$request.path.tenant");
    let mut specs: Vec<LinkSpec> = Vec::new();
    for to in [
        "get_tenant",
        "update_tenant",
        "create_key",
        "list_keys",
        "upload_plugin",
        "list_plugins",
        "get_pipeline",
        "set_pipeline",
        "get_config",
        "put_config",
        "get_offers",
        "put_offers",
        "get_policy",
        "put_policy",
        "record_touches",
        "list_decisions",
        "decide",
        "decide_batch",
        "audit",
        "list_profile_sets",
        "put_profile_set",
    ] {
        specs.push(("create_tenant", "201", to, to, &[TENANT], None));
    }
    specs.push((
        "create_key",
        "201",
        "revoke_key",
        "revoke_key",
        &[SAME_TENANT, ("key", "$response.body#/id")],
        None,
    ));
    const VERSION: &[(&str, &str)] = &[
        SAME_TENANT,
        ("name", "$response.body#/name"),
        ("version", "$response.body#/version"),
    ];
    for status in ["200", "201"] {
        for to in ["get_plugin", "get_component", "get_plugin_check", "delete_plugin"] {
            specs.push(("upload_plugin", status, to, to, VERSION, None));
        }
        specs.push((
            "upload_plugin",
            status,
            "activate",
            "activate",
            &[SAME_TENANT, ("slot", "main")],
            Some(serde_json::json!({"name": "$response.body#/name", "version": "$response.body#/version"})),
        ));
    }
    for to in [
        "activate",
        "rollback",
        "set_shadow",
        "get_shadow",
        "delete_shadow",
        "promote_shadow",
        "set_canary",
        "get_canary",
        "delete_canary",
        "promote_canary",
    ] {
        specs.push((
            "set_pipeline",
            "200",
            to,
            to,
            &[SAME_TENANT, ("slot", "$response.body#/slots/0/slot")],
            None,
        ));
    }
    for to in ["get_decision", "replay"] {
        specs.push((
            "decide",
            "200",
            to,
            to,
            &[SAME_TENANT, ("id", "$response.body#/decision_id")],
            None,
        ));
    }
    specs.push((
        "put_profile_set",
        "200",
        "delete_profile_set",
        "delete_profile_set",
        &[SAME_TENANT, ("name", "$response.body#/name")],
        None,
    ));
    specs
}

fn links(openapi: &mut OpenApi) {
    for (from, status, name, to, parameters, body) in link_specs() {
        let link: Link = parameters
            .iter()
            .fold(LinkBuilder::new().operation_id(to), |b, (k, v)| b.parameter(*k, *v))
            .request_body(body)
            .build();
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                if operation.operation_id.as_deref() != Some(from) {
                    continue;
                }
                if let Some(RefOr::T(response)) = operation.responses.responses.get_mut(status) {
                    response.links.insert(name.to_owned(), RefOr::T(link.clone()));
                }
            }
        }
    }
}
