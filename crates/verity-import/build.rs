// ONNX types are generated from ONNX's official onnx.proto (copied from onnx 1.23.2)
// with the protoc that protoc-bin-vendored ships, so no system protoc is needed.
fn main() {
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc for this platform");
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    prost_build::compile_protos(&["proto/onnx.proto"], &["proto/"]).expect("compile onnx.proto");
}
