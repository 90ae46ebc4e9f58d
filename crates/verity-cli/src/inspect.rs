use std::path::Path;

use anyhow::Result;

use crate::files::read_model;

pub fn run(path: &Path, as_json: bool) -> Result<()> {
    let m = read_model(path)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&verity_exec::inspect_json(&m))?);
        return Ok(());
    }
    println!("model id   {}", m.id());
    println!("format     VRTM v{}", verity_model::VERSION);
    println!("parameters {}", m.param_count());
    for (kind, ids) in [("input ", &m.inputs), ("output", &m.outputs)] {
        for &i in ids {
            let v = m.value(i);
            println!("{kind}     {} {:?} int{} scale {:e}", v.name, v.shape, v.bits, v.scale);
        }
    }
    if m.input_affine.iter().any(|a| !a.mul.is_empty()) {
        println!("           (inputs are normalized element-wise before quantization)");
    }
    println!();
    println!("{:>4}  {:<10} {:<28} {:<18} {:>5} {:>12} {:>8}", "#", "op", "name", "output shape", "bits", "scale", "params");
    for (i, n) in m.nodes.iter().enumerate() {
        let v = m.value(n.output);
        let name: String = n.name.chars().take(28).collect();
        println!(
            "{i:>4}  {:<10} {:<28} {:<18} {:>5} {:>12.4e} {:>8}",
            n.op.kind(),
            name,
            format!("{:?}", v.shape),
            v.bits,
            v.scale,
            n.op.param_count()
        );
    }
    Ok(())
}
