//! The OpenAPI entries of the model hub (`hub.rs`), the listings (`listing.rs`) and the
//! proof events (`events.rs`), added to `openapi::document`.

use serde_json::{json, Value};

fn query(name: &str, description: &str, schema: Value) -> Value {
    let mut schema = schema;
    schema["description"] = description.into();
    json!({"name": name, "in": "query", "required": false, "schema": schema})
}

fn listing(op: &str, summary: &str, key: &str, item: Value) -> Value {
    let int = || json!({"type": "integer", "minimum": 0});
    json!({"get": {"operationId": op, "summary": summary, "security": [{"apiKey": []}],
    "parameters": [
        query("model", "only this model's", json!({"type": "string", "pattern": "^(0x)?[0-9a-fA-F]{64}$"})),
        query("since", "unix seconds, inclusive", int()),
        query("until", "unix seconds, inclusive", int()),
        query("limit", "page size", json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})),
        query("after", "the next_after of the previous page", int()),
    ],
    "responses": {
        "200": {"description": "a page", "content": {"application/json": {"schema": {
            "type": "object", "required": [key],
            "properties": {key: {"type": "array", "items": item}, "next_after": {"type": "integer"}}}}}},
        "400": {"description": "a bad filter, or limit=0", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "401": {"description": "Missing or wrong API key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "403": {"description": "The node has no API key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    }}})
}

pub fn extend(doc: &mut Value) {
    let text = |max: usize| json!({"type": "string", "maxLength": max});
    let word =
        |max: usize| json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": "^[A-Za-z0-9][A-Za-z0-9._/-]*$"});
    let hub = json!({
        "name": word(64), "version": {"type": "integer", "minimum": 1, "description": "1 for the first model published under the name, then 2, ..."},
        "description": text(2000), "task": word(64), "license": text(64),
        "tags": {"type": "array", "maxItems": 16, "items": word(32)}
    });
    let schemas = &mut doc["components"]["schemas"];
    for (k, v) in hub.as_object().into_iter().flatten() {
        if k != "version" {
            schemas["PublishRequest"]["properties"][k] = v.clone();
        }
        schemas["ModelSummary"]["properties"][k] = v.clone();
    }
    schemas["PublishRequest"]["description"] =
        "Exactly one of `vrt`, or `onnx` with `calibration`; optionally hub metadata (`name`, needed by the others)".into();
    let get = &mut doc["paths"]["/v1/models"]["get"];
    get["summary"] = "Published models, in id order, filtered by hub metadata".into();
    if let Some(params) = get["parameters"].as_array_mut() {
        params.push(query("q", "case-insensitive text in the name, description, task or tags", json!({"type": "string"})));
        params.push(query("name", "exact name (any case): the versions of a model", json!({"type": "string"})));
        params.push(query("task", "exact task", json!({"type": "string"})));
        params.push(query("tag", "has this tag", json!({"type": "string"})));
    }
    doc["paths"]["/v1/models"]["post"]["responses"]["409"] = json!({"description": "The model is already published with other metadata",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let receipt = json!({"type": "object", "required": ["number", "receipt_id", "model_id", "input_hash", "output_hash", "executor", "issued_at"]});
    let job = json!({"allOf": [{"$ref": "#/components/schemas/ProofJob"}, {"type": "object", "required": ["seq"], "properties": {"seq": {"type": "integer"}}}]});
    doc["paths"]["/v1/receipts"] = listing(
        "listReceipts",
        "The receipts stored, in commit order (API key: records carry clients' inputs)",
        "receipts",
        receipt,
    );
    doc["paths"]["/v1/proofs"] = listing("listProofJobs", "The proof jobs, in the order accepted (API key)", "proofs", job);
    doc["paths"]["/v1/proofs/{id}/events"] = json!({"get": {"operationId": "proofEvents",
    "summary": "Server-sent events: the job (as GET /v1/proofs/{id}) at once and at every change, named by state; ends after done or failed",
    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^(0x)?[0-9a-fA-F]{64}$"}}],
    "responses": {
        "200": {"description": "an event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        "400": {"description": "a bad id", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "404": {"description": "No such proof job or proof on this node", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    }}});
}
