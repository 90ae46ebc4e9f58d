//! The OpenAPI 3.1 description of the API, written by hand next to the routes it
//! describes (a test checks that it lists exactly `routes::ROUTES`, and that every
//! documented route is served).

use serde_json::{json, Value};

fn hex32(description: &str) -> Value {
    json!({"type": "string", "pattern": "^(0x)?[0-9a-fA-F]{64}$", "description": description})
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok_json(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn id_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": hex32(description)})
}

pub fn document() -> Value {
    let e400 = error_response("Malformed request: bad JSON, a missing or unknown field, a bad id, an input of the wrong shape");
    let e404 = error_response("No such model or receipt on this node");
    let e413 = error_response("Request body larger than this route's limit (--max-body for /v1/models and /v1/verify/proof, --max-input-body otherwise)");
    let e408 = error_response("The request body did not arrive within --body-timeout");
    let e503 = error_response(
        "Compute is saturated (running and queued slots are full), or the request bodies in memory already fill          --max-inflight-bytes; retry after `Retry-After` seconds",
    );
    let e500 = error_response("The node failed (storage); details are in its log");
    let page = |name: &str, schema: Value| json!({"name": name, "in": "query", "required": false, "schema": schema});
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Verity node",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Publish canonical models, run them with evidence (signed receipts or proofs), fetch and verify \
                            receipts and proofs. Every error is {\"error\": \"...\"}. See docs/node.md."
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "The node's --api-key"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Input": {
                    "type": "object",
                    "description": "EZKL form {\"input_data\": [[...]]} (one flat list per model input) or named form \
                                    {\"NAME\": [...]}; nested lists are read row-major.",
                    "additionalProperties": true
                },
                "Receipt": {
                    "type": "object",
                    "description": "A signed receipt (docs/receipts.md, JSON form). Every field but `batch` is required; no other is allowed.",
                    "additionalProperties": false,
                    "required": ["version", "model_id", "input_hash", "output_hash", "trace_root", "evidence", "executor", "timestamp", "signature"],
                    "properties": {
                        "version": {"type": "integer", "const": 2},
                        "model_id": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"},
                        "input_hash": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"},
                        "output_hash": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"},
                        "trace_root": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"},
                        "evidence": {"type": "string", "enum": ["reexecution", "dispute", "zk"]},
                        "executor": {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$", "description": "EIP-55 address"},
                        "timestamp": {"type": "integer", "minimum": 0},
                        "signature": {"type": "string", "pattern": "^0x[0-9a-fA-F]{130}$", "description": "r || s || v"},
                        "batch": {
                            "type": "object",
                            "description": "Only on a receipt signed as part of a batch: its leaf index, the random salt of its leaf and the sibling hashes up to the signed root. Absent, not null, on an unbatched receipt",
                            "additionalProperties": false,
                            "required": ["index", "salt", "path"],
                            "properties": {
                                "index": {"type": "integer", "minimum": 0},
                                "salt": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"},
                                "path": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"}}
                            }
                        }
                    }
                },
                "PublishRequest": {
                    "type": "object",
                    "additionalProperties": false,
                    "description": "Exactly one of `vrt`, or `onnx` with `calibration`.",
                    "properties": {
                        "vrt": {"type": "string", "contentEncoding": "base64", "description": "A canonical .vrt model"},
                        "onnx": {"type": "string", "contentEncoding": "base64", "description": "An ONNX model, imported like `verity import`"},
                        "calibration": {"$ref": "#/components/schemas/Input"},
                        "bits": {"type": "integer", "enum": [8, 16], "default": 8}
                    }
                },
                "PublishResponse": {
                    "type": "object", "required": ["model_id", "created"],
                    "properties": {"model_id": hex32("the model id of the canonical model (docs/semantics.md)"), "created": {"type": "boolean"}}
                },
                "ModelSummary": {
                    "type": "object", "required": ["model_id", "bytes", "source", "published_at"],
                    "properties": {
                        "model_id": hex32("model id"),
                        "bytes": {"type": "integer"},
                        "source": {"type": "string", "enum": ["vrt", "onnx"]},
                        "published_at": {"type": "integer", "description": "unix seconds"}
                    }
                },
                "ModelList": {
                    "type": "object", "required": ["models"],
                    "properties": {
                        "models": {"type": "array", "items": {"$ref": "#/components/schemas/ModelSummary"}},
                        "next_after": hex32("cursor for the next page; absent on the last page"),
                        "object": {"type": "string", "enum": ["list"], "description": "OpenAI's list shape"},
                        "data": {"type": "array", "items": {"$ref": "#/components/schemas/ModelObject"},
                                 "description": "OpenAI model objects: the LLMs (first page only), then this page's models"}
                    }
                },
                "ModelInfo": {
                    "type": "object",
                    "description": "`verity inspect --json` plus bytes, source and published_at.",
                    "required": ["model_id", "format_version", "params", "inputs", "outputs", "nodes"],
                    "properties": {
                        "model_id": hex32("model id"),
                        "format_version": {"type": "integer"},
                        "params": {"type": "integer"},
                        "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/ValueInfo"}},
                        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/ValueInfo"}},
                        "nodes": {"type": "array", "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"}, "op": {"type": "string"}, "params": {"type": "integer"},
                                "inputs": {"type": "array", "items": {"type": "string"}},
                                "output": {"$ref": "#/components/schemas/ValueInfo"}
                            }
                        }},
                        "bytes": {"type": "integer"},
                        "source": {"type": "string"},
                        "published_at": {"type": "integer"}
                    }
                },
                "ValueInfo": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "bits": {"type": "integer"},
                        "scale": {"type": "number"}
                    }
                },
                "InferRequest": {
                    "type": "object", "additionalProperties": false, "required": ["model_id", "input"],
                    "properties": {
                        "model_id": hex32("model id"),
                        "input": {"$ref": "#/components/schemas/Input"},
                        "evidence": {"type": "string", "enum": ["none", "receipt", "zk"], "default": "none"}
                    }
                },
                "InferResponse": {
                    "type": "object",
                    "description": "The fields of `verity run --json`, the evidence kind, for `receipt` the signed receipt and its id, \
                                    for `zk` the id of the proof job to poll.",
                    "required": ["model_id", "input_hash", "output_hash", "outputs", "evidence"],
                    "properties": {
                        "model_id": hex32("model id"),
                        "input_hash": hex32("list hash of the quantized inputs' tensor roots"),
                        "output_hash": hex32("list hash of the outputs' tensor roots"),
                        "outputs": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                        "evidence": {"type": "string", "enum": ["none", "receipt", "zk"]},
                        "receipt": {"$ref": "#/components/schemas/Receipt"},
                        "receipt_id": hex32("keccak-256 signing hash of the receipt"),
                        "proof_job": hex32("evidence zk: the proof job (GET /v1/proofs/{id}); the same model and input give the same job")
                    }
                },
                "ProofJob": {
                    "type": "object",
                    "description": "A proof job: queued -> running -> done | failed. Jobs survive restarts; a job running when the node \
                                    stopped is queued again.",
                    "required": ["job_id", "model_id", "input_hash", "output_hash", "state", "created_at", "attempts"],
                    "properties": {
                        "job_id": hex32("job id"),
                        "model_id": hex32("model id"),
                        "input_hash": hex32("input hash of the answer being proved"),
                        "output_hash": hex32("output hash of the answer being proved"),
                        "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
                        "progress": {"type": "object", "description": "running: the prover's step",
                            "required": ["step", "done", "total"],
                            "properties": {"step": {"type": "string"}, "done": {"type": "integer"}, "total": {"type": "integer"}}},
                        "ahead": {"type": "integer", "description": "queued: jobs queued or running ahead of this one"},
                        "proof_id": hex32("done: BLAKE3 of the proof file"),
                        "proof_bytes": {"type": "integer"},
                        "error": {"type": "string", "description": "failed: why"},
                        "created_at": {"type": "integer"},
                        "started_at": {"type": "integer"},
                        "finished_at": {"type": "integer"},
                        "attempts": {"type": "integer", "description": "times proving started (more than 1: interrupted by a stop or crash)"}
                    }
                },
                "VerifyProofRequest": {
                    "type": "object", "additionalProperties": false, "required": ["proof", "model_id"],
                    "properties": {
                        "proof": {"type": "string", "contentEncoding": "base64", "description": "a proof file (VRTZ, as `verity prove` writes)"},
                        "model_id": hex32("the model (stored on this node) the proof must be for")
                    }
                },
                "VerifyProofResponse": {
                    "type": "object", "required": ["valid", "proof_id"],
                    "properties": {
                        "valid": {"type": "boolean"},
                        "error": {"type": "string", "description": "why not valid"},
                        "proof_id": hex32("BLAKE3 of the proof file sent")
                    }
                },
                "ReceiptRecord": {
                    "type": "object", "required": ["receipt_id", "model_id", "input", "receipt", "issued_at"],
                    "properties": {
                        "receipt_id": hex32("keccak-256 signing hash of the receipt"),
                        "model_id": hex32("model id"),
                        "input": {"$ref": "#/components/schemas/Input"},
                        "receipt": {"$ref": "#/components/schemas/Receipt"},
                        "issued_at": {"type": "integer"}
                    }
                },
                "VerifyRequest": {
                    "type": "object", "additionalProperties": false, "required": ["receipt", "model_id", "input"],
                    "properties": {
                        "receipt": {"$ref": "#/components/schemas/Receipt"},
                        "model_id": hex32("model to re-execute"),
                        "input": {"$ref": "#/components/schemas/Input"}
                    }
                },
                "VerifyResponse": {
                    "type": "object", "required": ["ok", "receipt_id"],
                    "properties": {
                        "ok": {"type": "boolean"},
                        "receipt_id": hex32("keccak-256 signing hash of the receipt"),
                        "field": {"type": "string", "enum": ["signature", "model_id", "input_hash", "output_hash", "trace_root"]},
                        "error": {"type": "string"},
                        "mismatch_id": {"type": "integer", "description": "set when the mismatch was recorded (verifier role): only for an output_hash or trace_root that the re-execution of this model on this input does not reproduce"}
                    }
                },
                "AuditRequest": {
                    "type": "object", "additionalProperties": false, "required": ["receipt", "input"],
                    "properties": {"receipt": {"$ref": "#/components/schemas/Receipt"}, "input": {"$ref": "#/components/schemas/Input"}}
                },
                "AuditResponse": {
                    "type": "object", "required": ["receipt_id", "sampled"],
                    "properties": {"receipt_id": hex32("receipt id"), "sampled": {"type": "boolean"}}
                },
                "Mismatch": {
                    "type": "object",
                    "required": ["id", "detected_at", "source", "receipt_id", "model_id", "field", "error", "receipt", "input", "computed"],
                    "properties": {
                        "id": {"type": "integer"},
                        "detected_at": {"type": "integer"},
                        "source": {"type": "string", "enum": ["issued", "submitted", "verify"]},
                        "receipt_id": hex32("receipt id"),
                        "model_id": hex32("model id"),
                        "field": {"type": "string"},
                        "error": {"type": "string"},
                        "receipt": {"$ref": "#/components/schemas/Receipt"},
                        "input": {"$ref": "#/components/schemas/Input"},
                        "computed": {"type": "object", "properties": {
                            "input_hash": hex32(""), "output_hash": hex32(""), "trace_root": hex32("")
                        }}
                    }
                },
                "MismatchList": {
                    "type": "object", "required": ["mismatches"],
                    "properties": {
                        "mismatches": {"type": "array", "items": {"$ref": "#/components/schemas/Mismatch"}},
                        "next_after": {"type": "integer"}
                    }
                },
                "NodeInfo": {
                    "type": "object",
                    "properties": {
                        "executor": {"type": "string", "description": "EIP-55 address that signs this node's receipts"},
                        "version": {"type": "string"},
                        "publish_enabled": {"type": "boolean"},
                        "verify_sample": {"type": "number"},
                        "max_body": {"type": "integer", "description": "largest body of POST /v1/models and /v1/verify/proof (--max-body)"},
                        "max_input_body": {"type": "integer", "description": "largest body of /v1/infer, /v1/verify/receipt and /v1/audit (--max-input-body)"},
                        "max_inflight_bytes": {"type": "integer", "description": "request-body bytes held at once (--max-inflight-bytes)"},
                        "max_connections": {"type": "integer", "description": "connections open at once (--max-connections)"},
                        "max_concurrency": {"type": "integer"},
                        "max_queue": {"type": "integer"},
                        "models": {"type": "integer", "description": "models stored"},
                        "receipts": {"type": "integer", "description": "receipts stored"},
                        "proofs": {"type": "integer", "description": "proofs stored"},
                        "proof_jobs_pending": {"type": "integer", "description": "proof jobs queued or running"},
                        "max_proof_queue": {"type": "integer", "description": "pending proof jobs beyond which zk requests get 503"}
                    }
                }
            }
        },
        "paths": {
            "/": {"get": {"operationId": "index", "summary": "An index page (HTML) linking this document",
                "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
            "/v1/models/{id}/vk": {"get": {"operationId": "downloadVerifyingKey",
                "summary": "The model's verifying key (.vk, as `verity keygen` writes it): check proofs without the weights",
                "parameters": [id_param("id", "model id")],
                "responses": {
                    "200": {"description": "the .vk file", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                    "400": e400, "404": e404, "422": e400, "500": e500}}},
            "/health": {"get": {"operationId": "health", "summary": "Liveness",
                "responses": {"200": {"description": "{\"status\": \"ok\"}", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics (text exposition format)",
                "responses": {"200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/v1/info": {"get": {"operationId": "info", "summary": "Executor address, version and limits",
                "responses": {"200": ok_json("node info", "NodeInfo"), "500": e500}}},
            "/v1/models": {
                "get": {"operationId": "listModels", "summary": "Published models, in id order",
                    "parameters": [page("after", hex32("return models after this id")), page("limit", json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}))],
                    "responses": {"200": ok_json("a page of models", "ModelList"), "400": e400}},
                "post": {"operationId": "publish", "summary": "Publish a canonical model, or an ONNX model to import",
                    "security": [{"apiKey": []}],
                    "requestBody": body("PublishRequest"),
                    "responses": {
                        "201": ok_json("published", "PublishResponse"),
                        "200": ok_json("already published (idempotent)", "PublishResponse"),
                        "400": e400,
                        "401": error_response("Missing or wrong API key"),
                        "403": error_response("Publishing is disabled (the node has no API key)"),
                        "413": e413, "408": e408, "503": e503, "500": e500
                    }}
            },
            "/v1/models/{id}": {"get": {"operationId": "describeModel", "summary": "Ops, shapes, scales and parameters of a model",
                "parameters": [id_param("id", "model id")],
                "responses": {"200": ok_json("the model", "ModelInfo"), "400": e400, "404": e404}}},
            "/v1/models/{id}/vrt": {"get": {"operationId": "downloadModel", "summary": "The canonical model bytes; their model id equals the id",
                "parameters": [id_param("id", "model id")],
                "responses": {
                    "200": {"description": "the .vrt file", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                    "400": e400, "404": e404, "500": e500
                }}},
            "/v1/infer": {"post": {"operationId": "infer", "summary": "Run a model on an input, with evidence none, receipt or zk",
                "requestBody": body("InferRequest"),
                "responses": {
                    "200": ok_json("the answer (with a durably stored receipt for evidence receipt)", "InferResponse"),
                    "202": ok_json("evidence zk: the answer, and the id of a durably queued proof job", "InferResponse"),
                    "400": e400, "404": e404, "413": e413, "408": e408,
                    "422": error_response("evidence zk: the model has an op that cannot be proved yet (named with its node)"),
                    "503": error_response("Compute is saturated, or (zk) the proof queue is full; retry after `Retry-After` seconds"),
                    "500": e500
                }}},
            "/v1/proofs/{id}": {"get": {"operationId": "getProofJob", "summary": "A proof job's state and progress, by job id or proof id",
                "parameters": [id_param("id", "proof job id, or proof id (BLAKE3 of the proof file)")],
                "responses": {"200": ok_json("the job", "ProofJob"), "400": e400,
                              "404": error_response("No such proof job or proof on this node"), "500": e500}}},
            "/v1/proofs/{id}/file": {"get": {"operationId": "getProofFile",
                "summary": "The proof file of a done job (VRTZ; verity_zk::file::ProofFile), by job id or proof id; BLAKE3 of the body is the proof id",
                "parameters": [id_param("id", "proof job id, or proof id")],
                "responses": {
                    "200": {"description": "the proof file", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                    "400": e400, "404": error_response("No such proof job or proof on this node"),
                    "409": error_response("The job is not done yet (or failed); poll GET /v1/proofs/{id}"), "500": e500
                }}},
            "/v1/receipts/{id}": {"get": {"operationId": "getReceipt", "summary": "A receipt this node issued, with its model id and input",
                "parameters": [id_param("id", "receipt id (keccak-256 signing hash)")],
                "responses": {"200": ok_json("the receipt record", "ReceiptRecord"), "400": e400, "404": e404}}},
            "/v1/verify/receipt": {"post": {"operationId": "verifyReceipt",
                "summary": "Check anyone's receipt: signature, then re-execution of model_id on input (model id, input hash, output hash, trace root)",
                "requestBody": body("VerifyRequest"),
                "responses": {"200": ok_json("ok, or which field failed", "VerifyResponse"), "400": e400, "404": e404, "413": e413, "408": e408, "503": e503}}},
            "/v1/verify/proof": {"post": {"operationId": "verifyProof",
                "summary": "Check anyone's proof file against this node's copy of model_id (key derived here from the model)",
                "requestBody": body("VerifyProofRequest"),
                "responses": {"200": ok_json("valid, or why not", "VerifyProofResponse"), "400": e400, "404": e404, "413": e413, "408": e408,
                              "422": error_response("The model has an op that cannot be proved yet"), "503": e503}}},
            "/v1/audit": {"post": {"operationId": "audit",
                "summary": "Hand a signed receipt and its input to the verifier role; a --verify-sample fraction is re-executed in the background",
                "requestBody": body("AuditRequest"),
                "responses": {"202": ok_json("accepted", "AuditResponse"), "400": e400, "404": e404, "413": e413, "408": e408,
                              "422": error_response("The input does not hash to the receipt's input_hash: the receipt is not about this input, so auditing it proves nothing"),
                              "503": error_response("the audit queue is full (jobs or --audit-queue-bytes), or --max-inflight-bytes is full")}}},
            "/v1/mismatches": {"get": {"operationId": "listMismatches", "summary": "Mismatch records (dispute evidence) found by the verifier role",
                "parameters": [page("after", json!({"type": "integer", "minimum": 0})), page("limit", json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}))],
                "responses": {"200": ok_json("a page of records", "MismatchList"), "400": e400}}},
            "/v1/peers": {"get": {"operationId": "listPeers", "summary": "This node's p2p peer id and role, its connected peers (with their checked node records) and the executors proven faulty by fraud proofs (docs/network.md)",
                "responses": {"200": {"description": "peers", "content": {"application/json": {"schema": {"type": "object"}}}}, "404": error_response("the node was started without --p2p-listen")}}}
        }
    });
    crate::surface_doc::extend(&mut doc);
    crate::chat_openapi::extend(&mut doc);
    doc
}
