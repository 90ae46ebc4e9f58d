//! The ONNX op set: one module per op family, each holding its ops' translations into
//! the float graph, all registered in [`TABLE`]. Adding an op is a function in its
//! family's module and a row here (see `docs/adding-an-op.md`); quantization is per
//! float op (`fgraph::FOp`) in `quantize.rs`, so an op that lowers to existing float
//! ops needs nothing else.

pub(crate) mod activation;
pub(crate) mod array;
pub(crate) mod control;
pub(crate) mod einsum;
pub(crate) mod index;
pub(crate) mod logic;
pub(crate) mod math;
pub(crate) mod ml;
pub(crate) mod nn;
pub(crate) mod rec;
pub(crate) mod reduce;
pub(crate) mod resize;

use crate::error::Result;
use crate::onnx::NodeProto;
use crate::translate::{Builder, Cx, Out};

/// Turns one ONNX node (default domain) into float-graph nodes.
pub(crate) type Translate = fn(&mut Builder, &Cx) -> Result<Out>;

/// Every supported ONNX op type and its translator.
pub(crate) const TABLE: &[(&str, Translate)] = &[
    // array: wiring, shapes and constants
    ("Identity", array::identity),
    ("If", control::if_),
    ("Dropout", array::identity),
    ("Constant", array::constant),
    ("Shape", array::shape),
    ("Cast", array::cast),
    ("ConstantOfShape", array::constant_of_shape),
    ("Flatten", array::flatten),
    ("Reshape", array::reshape),
    ("Squeeze", array::squeeze),
    ("Unsqueeze", array::squeeze),
    ("Transpose", array::transpose),
    ("Concat", array::concat),
    ("Slice", array::slice),
    ("Gather", array::gather),
    ("Expand", array::expand),
    ("Tile", array::tile),
    ("Pad", array::pad),
    ("DepthToSpace", array::depth_space),
    ("Split", array::split),
    ("Size", array::size),
    ("Range", array::range),
    ("GatherElements", index::gather_elements),
    ("GatherND", index::gather_nd),
    ("ScatterElements", index::scatter),
    ("Scatter", index::scatter),
    ("ScatterND", index::scatter),
    ("Trilu", index::trilu),
    ("Resize", resize::resize),
    ("Upsample", resize::resize),
    ("SpaceToDepth", array::depth_space),
    // math
    ("Add", math::binary),
    ("Sub", math::binary),
    ("Mul", math::binary),
    ("Div", math::binary),
    ("Gemm", math::gemm),
    ("MatMul", math::matmul),
    ("Einsum", einsum::einsum),
    ("Pow", math::pow),
    ("Mod", math::modulo),
    ("Max", math::max_min),
    ("Min", math::max_min),
    ("Exp", math::unary),
    ("Erf", math::unary),
    ("Abs", math::unary),
    ("Neg", math::unary),
    ("Sign", math::unary),
    ("Log", math::unary),
    ("Reciprocal", math::unary),
    ("Sqrt", math::unary),
    ("Floor", math::unary),
    ("Ceil", math::unary),
    ("Round", math::unary),
    // comparisons, logic and selection
    ("Less", logic::compare),
    ("LessOrEqual", logic::compare),
    ("Greater", logic::compare),
    ("GreaterOrEqual", logic::compare),
    ("Equal", logic::compare),
    ("Not", logic::logic),
    ("And", logic::logic),
    ("Or", logic::logic),
    ("Xor", logic::logic),
    ("Where", logic::select),
    ("Hardmax", logic::hardmax),
    ("OneHot", logic::one_hot),
    // activations
    ("Relu", activation::activation),
    ("LeakyRelu", activation::activation),
    ("Sigmoid", activation::activation),
    ("Tanh", activation::activation),
    ("Gelu", activation::activation),
    ("Elu", activation::activation),
    ("Selu", activation::activation),
    ("Celu", activation::activation),
    ("Softplus", activation::activation),
    ("Softsign", activation::activation),
    ("HardSigmoid", activation::activation),
    ("HardSwish", activation::activation),
    ("Mish", activation::activation),
    ("Clip", activation::clip),
    ("PRelu", activation::prelu),
    // nn
    ("Conv", nn::conv),
    ("ConvTranspose", nn::conv_transpose),
    ("InstanceNormalization", nn::group_norm),
    ("GroupNormalization", nn::group_norm),
    ("BatchNormalization", nn::batch_norm),
    ("Softmax", nn::softmax),
    ("LogSoftmax", nn::log_softmax),
    ("LayerNormalization", nn::layer_norm),
    ("MaxPool", nn::pool),
    ("AveragePool", nn::pool),
    ("GlobalAveragePool", nn::global_average_pool),
    ("GlobalMaxPool", nn::global_max_pool),
    // reductions
    ("ReduceMean", reduce::reduce),
    ("ReduceSum", reduce::reduce),
    ("ReduceMax", reduce::reduce),
    ("ReduceMin", reduce::reduce),
    ("ReduceL1", reduce::reduce),
    ("ReduceL2", reduce::reduce),
    ("ReduceSumSquare", reduce::reduce),
    ("ReduceLogSumExp", reduce::reduce),
    ("ReduceProd", reduce::reduce),
    ("ArgMax", reduce::arg),
    ("CumSum", reduce::cumsum),
    ("ArgMin", reduce::arg),
    ("TopK", reduce::top_k),
    // recurrent, unrolled over the sequence
    ("LSTM", rec::recurrent),
    ("GRU", rec::recurrent),
    ("RNN", rec::recurrent),
];

/// The supported ops of the `ai.onnx.ml` domain (scikit-learn models, via skl2onnx).
pub(crate) const ML_TABLE: &[(&str, Translate)] = &[
    ("TreeEnsembleRegressor", ml::tree_regressor),
    ("TreeEnsembleClassifier", ml::tree_classifier),
    ("LinearRegressor", ml::linear_regressor),
    ("LinearClassifier", ml::linear_classifier),
    ("Scaler", ml::scaler),
    ("Normalizer", ml::normalizer),
    // Refused with the converter option that avoids it.
    ("ZipMap", ml::zipmap),
];

/// The translator for `node`, if its domain and op are supported.
pub(crate) fn translator(node: &NodeProto) -> Option<Translate> {
    let table = match node.domain() {
        "" | "ai.onnx" => TABLE,
        "ai.onnx.ml" => ML_TABLE,
        _ => return None,
    };
    table.iter().find(|(op, _)| *op == node.op_type()).map(|&(_, t)| t)
}

/// The supported op types, in table order (the `ai.onnx.ml` ones with their domain;
/// ZipMap, which is only refused, is left out).
pub fn supported_ops() -> impl Iterator<Item = String> {
    let ml = ML_TABLE.iter().filter(|(op, _)| *op != "ZipMap").map(|&(op, _)| format!("ai.onnx.ml::{op}"));
    TABLE.iter().map(|&(op, _)| op.to_string()).chain(ml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_is_registered_once() {
        let mut ops: Vec<String> = supported_ops().collect();
        ops.sort_unstable();
        let n = ops.len();
        ops.dedup();
        assert_eq!(ops.len(), n, "an op type appears twice in the table");
    }
}
