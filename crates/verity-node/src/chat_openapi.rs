//! The OpenAPI entries of the OpenAI-compatible routes (`chat.rs`), added to the document
//! of `openapi.rs`.

use serde_json::{json, Value};

fn oai_error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAiError"}}}})
}

pub fn extend(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    schemas["ModelObject"] = json!({
        "type": "object", "required": ["id", "object", "created", "owned_by"],
        "properties": {
            "id": {"type": "string", "description": "model id (hex): an LLM for /v1/chat/completions or a canonical model for /v1/infer"},
            "object": {"type": "string", "enum": ["model"]},
            "created": {"type": "integer", "description": "unix seconds: published, or (LLM) loaded by the node"},
            "owned_by": {"type": "string", "description": "the node's executor address"}
        }
    });
    schemas["OpenAiError"] = json!({
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"], "properties": {
            "message": {"type": "string"},
            "type": {"type": "string", "description": "invalid_request_error or server_error"},
            "param": {"type": ["string", "null"], "description": "the request field at fault"},
            "code": {"type": ["string", "null"], "description": "model_not_found, context_length_exceeded, or null"}
        }}}
    });
    schemas["ChatRequest"] = json!({
        "type": "object", "required": ["messages"], "additionalProperties": false,
        "description": "OpenAI's chat request; fields not listed here are refused (400).",
        "properties": {
            "model": {"type": "string", "description": "LLM id (hex) or name (the GGUF's file stem); optional when the node serves one LLM"},
            "messages": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["role", "content"], "properties": {
                "role": {"type": "string", "enum": ["system", "developer", "user", "assistant"]},
                "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object", "properties": {"type": {"const": "text"}, "text": {"type": "string"}}}}]},
                "name": {"type": "string"}
            }}},
            "max_tokens": {"type": "integer", "minimum": 1, "description": "default min(256, what the context leaves)"},
            "max_completion_tokens": {"type": "integer", "minimum": 1, "description": "same as max_tokens"},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2, "default": 1, "description": "0 is greedy; kept in thousandths"},
            "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 1},
            "top_k": {"type": "integer", "minimum": 0, "description": "Verity's addition; 0: no cut"},
            "seed": {"type": "integer", "minimum": 0, "description": "default: one the node picks (reported in verity.completion.params.seed)"},
            "stop": {"oneOf": [{"type": "string"}, {"type": "array", "maxItems": 4, "items": {"type": "string"}}]},
            "n": {"type": "integer", "enum": [1]},
            "stream": {"type": "boolean", "default": false},
            "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
            "user": {"type": "string"}
        }
    });
    schemas["ChatCompletion"] = json!({
        "type": "object", "required": ["id", "object", "created", "model", "choices", "usage", "verity"],
        "description": "OpenAI's chat.completion, plus `verity`: the receipt file {completion, receipt} of docs/llm.md and its receipt_id",
        "properties": {
            "id": {"type": "string"}, "object": {"type": "string", "enum": ["chat.completion"]},
            "created": {"type": "integer"}, "model": {"type": "string"},
            "choices": {"type": "array"}, "usage": {"type": "object"},
            "verity": {"type": "object", "required": ["completion", "receipt", "receipt_id"]}
        }
    });
    doc["paths"]["/v1/chat/completions"] = json!({"post": {
        "operationId": "chatCompletions",
        "summary": "OpenAI-compatible chat completion with an --llm model, exact and with a signed receipt (docs/llm.md)",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatRequest"}}}},
        "responses": {
            "200": {
                "description": "the completion; with stream: true, server-sent events `data: {chat.completion.chunk}` ending with `data: [DONE]`, the last chunk carrying usage and verity",
                "headers": {"x-verity-receipt-id": {"schema": {"type": "string"}, "description": "the receipt id (not streamed answers: see the last chunk)"}},
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletion"}},
                    "text/event-stream": {"schema": {"type": "string"}}
                }
            },
            "400": oai_error("malformed JSON, an unknown field, empty messages, an unsupported role, invalid temperature, top_p, max_tokens or stop, n other than 1, or a prompt longer than the context"),
            "404": oai_error("no such LLM on this node"),
            "413": oai_error("request body larger than --max-input-body"),
            "408": oai_error("the request body did not arrive within --body-timeout"),
            "503": oai_error("compute is saturated; retry after `Retry-After` seconds"),
            "500": oai_error("the node failed (storage)")
        }
    }});
}
