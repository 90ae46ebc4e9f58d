//! Reading ONNX protobuf messages into plain values.

use crate::error::{onnx_err, shape_err, ImportError, Result};
use crate::ftensor::FTensor;
use crate::onnx::{
    attribute_proto::AttributeType, tensor_proto::DataType, type_proto, AttributeProto, NodeProto, TensorProto, ValueInfoProto,
};

/// The values of an ONNX tensor as f64 (exact for every int32 and for int64 up to 2^53).
pub fn tensor(t: &TensorProto) -> Result<FTensor> {
    let name = t.name();
    if !t.external_data.is_empty() {
        return onnx_err(format!("tensor '{name}' keeps its data in an external file, which is not supported"));
    }
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| ImportError::Onnx(format!("tensor '{name}' has negative dimension {d}"))))
        .collect::<Result<_>>()?;
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| n <= 1 << 28);
    let Some(n) = n else { return onnx_err(format!("tensor '{name}' is too large: {shape:?}")) };
    let raw = t.raw_data();
    let dt = DataType::try_from(t.data_type()).unwrap_or(DataType::Undefined);
    let from_raw = |size: usize, conv: &dyn Fn(&[u8]) -> f64| -> Result<Vec<f64>> {
        if raw.len() != n * size {
            return onnx_err(format!("tensor '{name}' has {} raw bytes, shape {shape:?} needs {}", raw.len(), n * size));
        }
        Ok(raw.chunks_exact(size).map(conv).collect())
    };
    let data: Vec<f64> = match dt {
        DataType::Float if !raw.is_empty() => from_raw(4, &|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)?,
        DataType::Float => t.float_data.iter().map(|&v| v as f64).collect(),
        DataType::Double if !raw.is_empty() => from_raw(8, &|b| f64::from_le_bytes(b.try_into().unwrap()))?,
        DataType::Double => t.double_data.clone(),
        DataType::Int64 if !raw.is_empty() => from_raw(8, &|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)?,
        DataType::Int64 => t.int64_data.iter().map(|&v| v as f64).collect(),
        DataType::Int32 if !raw.is_empty() => from_raw(4, &|b| i32::from_le_bytes(b.try_into().unwrap()) as f64)?,
        DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::Uint8 | DataType::Bool if raw.is_empty() => {
            t.int32_data.iter().map(|&v| v as f64).collect()
        }
        DataType::Int8 => from_raw(1, &|b| b[0] as i8 as f64)?,
        DataType::Uint8 | DataType::Bool => from_raw(1, &|b| b[0] as f64)?,
        other => return onnx_err(format!("tensor '{name}' has unsupported element type {other:?}")),
    };
    if data.len() != n {
        return onnx_err(format!("tensor '{name}' holds {} values, shape {shape:?} needs {n}", data.len()));
    }
    Ok(FTensor::new(shape, data))
}

/// The static shape of a graph input: `fixed` (a shape the user gave for it) where
/// present, else the declared one. A symbolic or missing dimension without a fixed
/// shape is an error naming the input and the dimension; a fixed shape must agree with
/// every declared number.
/// The exact width for a boolean (8 bits) or integer (16 bits) graph input; `None` for
/// floating-point types.
pub fn integer_bits(v: &ValueInfoProto) -> Option<u8> {
    let Some(type_proto::Value::TensorType(tt)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else { return None };
    match tt.elem_type() {
        9 => Some(8),                // BOOL
        2..=7 | 12 | 13 => Some(16), // the (u)int types
        _ => None,                   // FLOAT, FLOAT16, DOUBLE, BFLOAT16, ...
    }
}

pub fn declared_shape(v: &ValueInfoProto, fixed: Option<&[usize]>) -> Result<Vec<usize>> {
    use crate::onnx::tensor_shape_proto::dimension::Value;
    let name = v.name();
    let Some(type_proto::Value::TensorType(tt)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return onnx_err(format!("graph input '{name}' is not a tensor"));
    };
    let Some(shape) = &tt.shape else {
        return match fixed {
            Some(f) => Ok(f.to_vec()),
            None => shape_err(format!("graph input '{name}' has no declared shape; give one with --shape {name}=DxDx...")),
        };
    };
    if let Some(f) = fixed {
        if f.len() != shape.dim.len() {
            return onnx_err(format!(
                "the shape given for graph input '{name}' has {} dimensions, the model declares {}",
                f.len(),
                shape.dim.len()
            ));
        }
    }
    shape
        .dim
        .iter()
        .enumerate()
        .map(|(i, d)| match (&d.value, fixed) {
            (Some(Value::DimValue(v)), Some(f)) if *v > 0 && *v as u64 != f[i] as u64 => onnx_err(format!(
                "the shape given for graph input '{name}' has {} in dimension {i}, the model declares {v}",
                f[i]
            )),
            (_, Some(f)) => Ok(f[i]),
            (Some(Value::DimValue(v)), None) if *v > 0 => Ok(*v as usize),
            (Some(Value::DimValue(v)), None) => onnx_err(format!("graph input '{name}' declares dimension {i} as {v}")),
            (Some(Value::DimParam(p)), None) if !p.is_empty() => shape_err(format!(
                "graph input '{name}' has a symbolic dimension {i} ('{p}'); fix it with --shape {name}=DxDx..."
            )),
            _ => shape_err(format!("graph input '{name}' has an unknown dimension {i}; fix it with --shape {name}=DxDx...")),
        })
        .collect()
}

/// Attribute access for one node, with errors that name the node.
pub struct Attrs<'a> {
    pub node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name() == name)
    }
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i())
    }
    pub fn float(&self, name: &str, default: f64) -> f64 {
        self.get(name).map_or(default, |a| a.f() as f64)
    }
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }
    /// A graph attribute (an If branch).
    pub fn graph(&self, name: &str) -> Option<&'a crate::onnx::GraphProto> {
        self.get(name).and_then(|a| a.g.as_ref())
    }
    pub fn floats(&self, name: &str) -> Option<Vec<f64>> {
        self.get(name).map(|a| a.floats.iter().map(|&v| v as f64).collect())
    }
    pub fn strings(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
    }
    /// A tensor attribute's values (the `*_as_tensor` attributes of the ML ops).
    pub fn tensor(&self, name: &str) -> Option<Result<FTensor>> {
        self.get(name).map(|a| a.t.as_ref().map_or_else(|| onnx_err(format!("attribute '{name}' holds no tensor")), tensor))
    }
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(|a| String::from_utf8_lossy(a.s()).into_owned())
    }
    /// A `Constant` node's value, whichever attribute holds it.
    pub fn constant_value(&self) -> Result<FTensor> {
        let a = self.node.attribute.first().ok_or_else(|| ImportError::Onnx("Constant node without a value".into()))?;
        match (a.name(), a.r#type()) {
            ("value", _) => tensor(a.t.as_ref().ok_or_else(|| ImportError::Onnx("Constant 'value' without a tensor".into()))?),
            ("value_float", _) => Ok(FTensor::scalar(a.f() as f64)),
            ("value_int", _) => Ok(FTensor::scalar(a.i() as f64)),
            ("value_floats", AttributeType::Floats) => {
                Ok(FTensor::new(vec![a.floats.len()], a.floats.iter().map(|&v| v as f64).collect()))
            }
            ("value_ints", AttributeType::Ints) => {
                Ok(FTensor::new(vec![a.ints.len()], a.ints.iter().map(|&v| v as f64).collect()))
            }
            (other, _) => onnx_err(format!("Constant attribute '{other}' is not supported")),
        }
    }
}
