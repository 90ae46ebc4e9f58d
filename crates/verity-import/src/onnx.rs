//! Types generated from ONNX's official `onnx.proto`, and readers for the pieces the
//! importer needs (tensors, attributes, declared shapes).

#![allow(clippy::all, missing_docs)]
include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
