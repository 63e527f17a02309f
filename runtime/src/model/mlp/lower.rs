//! From an ONNX graph to the executor's step list, at load.
//!
//! Every activation has a leading batch: its logical shape is `[lead·B, rest..]`, and
//! one batch row is a contiguous block of `lead·Π rest` floats (a strided view of a
//! wider buffer after a column `Slice`). Shape arithmetic (`Shape`, `Gather`, integer
//! `Add`/`Div`/`Mul`, `Concat`) is folded here with the batch kept symbolic, so the
//! same steps serve any row count up to the prepared maximum. Anything outside the op
//! set, or an op that would mix rows, is refused with the reason.

use std::collections::HashMap;

use tract_onnx::pb::{GraphProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::tract_ndarray::{Array1, ArrayD, IxDyn};

use super::buffers::share_buffers;
use super::conv::Conv;
use super::fusion::Fusion;
use super::kernels::{Binary, Unary};
use super::matmul::Linear;
use super::step::{Operand, Slot, Step};

/// A symbolic integer `b·B + c` (B the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sym {
    b: i64,
    c: i64,
}

impl Sym {
    fn known(c: i64) -> Sym {
        Sym { b: 0, c }
    }
    fn value(self) -> Option<i64> {
        (self.b == 0).then_some(self.c)
    }
}

#[derive(Debug, Clone)]
struct Act {
    slot: Slot,
    lead: usize,
    rest: Vec<usize>,
}

impl Act {
    fn block(&self) -> usize {
        self.lead * self.rest.iter().product::<usize>()
    }
    fn rank(&self) -> usize {
        1 + self.rest.len()
    }
    fn contiguous(&self) -> bool {
        self.slot.stride == self.block()
    }
}

#[derive(Debug, Clone)]
enum Value {
    Act(Act),
    Floats(ArrayD<f32>),
    Ints { dims: Vec<Sym>, scalar: bool },
}

/// The lowered graph: steps, buffer sizes (floats per batch row) and where the
/// declared inputs and outputs live.
#[derive(Debug)]
pub struct Lowered {
    /// Steps in execution order.
    pub steps: Vec<Step>,
    /// Floats per batch row of each buffer.
    pub buffer_widths: Vec<usize>,
    /// Input slots and widths, in the order asked for.
    pub inputs: Vec<(Slot, usize)>,
    /// Output slots and widths, in the order asked for.
    pub outputs: Vec<(Slot, usize)>,
    /// Multiply-adds per batch row, times 2.
    pub flops_per_row: u64,
}

/// Lowers `graph` with inputs and outputs `[B, width]` named as given.
pub fn lower(
    graph: &GraphProto,
    model_path: &str,
    inputs: &[(&str, usize)],
    outputs: &[(&str, usize)],
    max_rows: usize,
) -> Result<Lowered, String> {
    let mut cx = Lowering {
        values: HashMap::new(),
        steps: Vec::new(),
        buffer_widths: Vec::new(),
        max_rows,
        flops_per_row: 0,
    };
    let resolver = tract_onnx::data_resolver::MmapDataResolver;
    for init in &graph.initializer {
        let value = constant(&resolver, init, model_path)
            .map_err(|e| format!("initializer `{}`: {e}", init.name))?;
        cx.values.insert(init.name.clone(), value);
    }
    let mut input_slots = Vec::new();
    for &(name, width) in inputs {
        let slot = cx.buffer(width);
        // An image input keeps its declared `[B, C, H, W]` shape (what a Conv needs);
        // anything else is `[B, width]`.
        let rest = declared_shape(graph, name)
            .filter(|dims| dims.len() > 1 && dims.iter().product::<usize>() == width)
            .unwrap_or_else(|| vec![width]);
        cx.values.insert(
            name.to_string(),
            Value::Act(Act {
                slot,
                lead: 1,
                rest,
            }),
        );
        input_slots.push((slot, width));
    }
    let fusion = Fusion::find(graph);
    for (ix, node) in graph.node.iter().enumerate() {
        if fusion.skipped.contains(&ix) {
            continue;
        }
        cx.node(graph, node, ix, &fusion)
            .map_err(|e| format!("node `{}` ({}): {e}", node.name, node.op_type))?;
    }
    let mut output_slots = Vec::new();
    for &(name, width) in outputs {
        match cx.values.get(name) {
            Some(Value::Act(a)) if a.block() == width => output_slots.push((a.slot, width)),
            Some(Value::Act(a)) => {
                return Err(format!(
                    "output `{name}` has {} values per row, expected {width}",
                    a.block()
                ))
            }
            Some(_) => return Err(format!("output `{name}` does not depend on the input")),
            None => return Err(format!("output `{name}` is not computed by the graph")),
        }
    }
    let mut steps = cx.steps;
    let buffer_widths = share_buffers(
        &mut steps,
        &cx.buffer_widths,
        &mut input_slots,
        &mut output_slots,
    );
    Ok(Lowered {
        steps,
        buffer_widths,
        inputs: input_slots,
        outputs: output_slots,
        flops_per_row: cx.flops_per_row,
    })
}

/// The non-batch dims of graph input `name`, when all are known.
fn declared_shape(graph: &GraphProto, name: &str) -> Option<Vec<usize>> {
    use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
    use tract_onnx::pb::type_proto::Value as Type;
    let input = graph.input.iter().find(|i| i.name == name)?;
    let Some(Type::TensorType(t)) = input.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    t.shape
        .as_ref()?
        .dim
        .iter()
        .skip(1)
        .map(|d| match d.value {
            Some(Dim::DimValue(v)) if v > 0 => Some(v as usize),
            _ => None,
        })
        .collect()
}

struct Lowering {
    values: HashMap<String, Value>,
    steps: Vec<Step>,
    buffer_widths: Vec<usize>,
    max_rows: usize,
    flops_per_row: u64,
}

fn constant(
    resolver: &dyn tract_onnx::data_resolver::ModelDataResolver,
    proto: &TensorProto,
    model_path: &str,
) -> Result<Value, String> {
    let t = tract_onnx::tensor::load_tensor(resolver, proto, Some(model_path))
        .map_err(|e| format!("{e:#}"))?;
    tensor_value(&t)
}

fn tensor_value(t: &Tensor) -> Result<Value, String> {
    let dt = t.datum_type();
    if dt == f32::datum_type() {
        let a = t
            .to_plain_array_view::<f32>()
            .map_err(|e| format!("{e:#}"))?;
        return Ok(Value::Floats(a.to_owned()));
    }
    if dt == i64::datum_type() || dt == i32::datum_type() {
        if t.rank() > 1 {
            return Err(format!("integer tensor of rank {}", t.rank()));
        }
        let cast = t.cast_to::<i64>().map_err(|e| format!("{e:#}"))?;
        let a = cast
            .to_plain_array_view::<i64>()
            .map_err(|e| format!("{e:#}"))?;
        return Ok(Value::Ints {
            dims: a.iter().map(|&v| Sym::known(v)).collect(),
            scalar: t.rank() == 0,
        });
    }
    Err(format!("tensor of type {dt:?}"))
}

impl Lowering {
    fn buffer(&mut self, width: usize) -> Slot {
        self.buffer_widths.push(width);
        Slot {
            buf: self.buffer_widths.len() - 1,
            offset: 0,
            stride: width,
        }
    }

    fn get(&self, name: &str) -> Result<&Value, String> {
        self.values
            .get(name)
            .ok_or_else(|| format!("input `{name}` is not available (unsupported producer)"))
    }

    fn act(&self, name: &str) -> Result<Act, String> {
        match self.get(name)? {
            Value::Act(a) => Ok(a.clone()),
            _ => Err(format!(
                "`{name}` is a constant where a batch tensor is expected"
            )),
        }
    }

    fn ints(&self, name: &str) -> Result<Vec<Sym>, String> {
        match self.get(name)? {
            Value::Ints { dims, .. } => Ok(dims.clone()),
            _ => Err(format!("`{name}` is not a folded integer tensor")),
        }
    }

    fn known_ints(&self, name: &str) -> Result<Vec<i64>, String> {
        self.ints(name)?
            .into_iter()
            .map(|s| {
                s.value()
                    .ok_or_else(|| format!("`{name}` depends on the batch size"))
            })
            .collect()
    }

    fn floats(&self, name: &str) -> Result<ArrayD<f32>, String> {
        match self.get(name)? {
            Value::Floats(a) => Ok(a.clone()),
            _ => Err(format!("`{name}` is not a float constant")),
        }
    }

    fn set(&mut self, node: &NodeProto, value: Value) {
        if let Some(name) = node.output.first() {
            self.values.insert(name.clone(), value);
        }
    }

    /// A new contiguous activation shaped like `like`.
    fn fresh(&mut self, like: &Act) -> Act {
        let slot = self.buffer(like.block());
        Act {
            slot,
            lead: like.lead,
            rest: like.rest.clone(),
        }
    }

    fn node(
        &mut self,
        graph: &GraphProto,
        node: &NodeProto,
        ix: usize,
        fusion: &Fusion,
    ) -> Result<(), String> {
        let attr_i = |name: &str| node.get_attr_opt::<i64>(name).map_err(|e| format!("{e:#}"));
        let attr_f = |name: &str| node.get_attr_opt::<f32>(name).map_err(|e| format!("{e:#}"));
        let input = |i: usize| -> Result<&str, String> {
            node.input
                .get(i)
                .map(String::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("missing input {i}"))
        };
        let extra_outputs_unused = node.output.iter().skip(1).all(|o| o.is_empty());
        match node.op_type.as_str() {
            "Identity" => {
                let v = self.get(input(0)?)?.clone();
                self.set(node, v);
            }
            "Constant" => {
                let value = if let Some(t) = node
                    .get_attr_opt::<&TensorProto>("value")
                    .map_err(|e| format!("{e:#}"))?
                {
                    let resolver = tract_onnx::data_resolver::MmapDataResolver;
                    constant(&resolver, t, "")?
                } else if let Some(f) = attr_f("value_float")? {
                    Value::Floats(ArrayD::from_elem(IxDyn(&[]), f))
                } else if let Some(i) = attr_i("value_int")? {
                    Value::Ints {
                        dims: vec![Sym::known(i)],
                        scalar: true,
                    }
                } else if let Some(v) = node
                    .get_attr_opt_vec::<i64>("value_ints")
                    .map_err(|e| format!("{e:#}"))?
                {
                    Value::Ints {
                        dims: v.into_iter().map(Sym::known).collect(),
                        scalar: false,
                    }
                } else {
                    return Err("constant of an unsupported kind".into());
                };
                self.set(node, value);
            }
            "Shape" => {
                let a = self.act(input(0)?)?;
                let mut dims = vec![Sym {
                    b: a.lead as i64,
                    c: 0,
                }];
                dims.extend(a.rest.iter().map(|&d| Sym::known(d as i64)));
                let rank = dims.len() as i64;
                let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
                let start = clamp(attr_i("start")?.unwrap_or(0));
                let end = clamp(attr_i("end")?.unwrap_or(rank));
                self.set(
                    node,
                    Value::Ints {
                        dims: dims[start..end.max(start)].to_vec(),
                        scalar: false,
                    },
                );
            }
            "Gather" => {
                let data = self.ints(input(0)?)?;
                let (indices, scalar) = match self.get(input(1)?)? {
                    Value::Ints { dims, scalar } => (dims.clone(), *scalar),
                    _ => return Err("gather with non-integer indices".into()),
                };
                if attr_i("axis")?.unwrap_or(0) != 0 {
                    return Err("gather on an axis other than 0".into());
                }
                let n = data.len() as i64;
                let dims = indices
                    .iter()
                    .map(|i| {
                        let i = i.value().ok_or("gather at a batch-dependent index")?;
                        let i = if i < 0 { i + n } else { i };
                        data.get(i as usize)
                            .copied()
                            .ok_or_else(|| format!("gather index {i} out of {n}"))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                self.set(node, Value::Ints { dims, scalar });
            }
            "Concat" => {
                let axis = attr_i("axis")?.ok_or("concat without an axis")?;
                let values: Vec<Value> = node
                    .input
                    .iter()
                    .map(|n| self.get(n).cloned())
                    .collect::<Result<_, _>>()?;
                if values.iter().all(|v| matches!(v, Value::Ints { .. })) {
                    let mut dims = Vec::new();
                    for v in values {
                        if let Value::Ints { dims: d, .. } = v {
                            dims.extend(d);
                        }
                    }
                    self.set(
                        node,
                        Value::Ints {
                            dims,
                            scalar: false,
                        },
                    );
                    return Ok(());
                }
                let acts: Vec<Act> = values
                    .into_iter()
                    .map(|v| match v {
                        Value::Act(a) if a.lead == 1 && a.rank() == 2 => Ok(a),
                        _ => Err("concat of anything but [B, n] batch tensors".to_string()),
                    })
                    .collect::<Result<_, _>>()?;
                if axis != -1 && axis != 1 {
                    return Err(format!(
                        "concat on axis {axis} (only the last is supported)"
                    ));
                }
                let width: usize = acts.iter().map(|a| a.rest[0]).sum();
                let out = self.buffer(width);
                let mut col = 0;
                for a in &acts {
                    self.steps.push(Step::Copy {
                        src: a.slot,
                        dst: Slot { offset: col, ..out },
                        width: a.rest[0],
                    });
                    col += a.rest[0];
                }
                self.set(
                    node,
                    Value::Act(Act {
                        slot: out,
                        lead: 1,
                        rest: vec![width],
                    }),
                );
            }
            "Reshape" => {
                let a = self.act(input(0)?)?;
                let target = self.ints(input(1)?)?;
                if attr_i("allowzero")?.unwrap_or(0) != 0 {
                    return Err("reshape with allowzero".into());
                }
                let reshaped = reshape(&a, &target)?;
                if !a.contiguous() && (reshaped.lead != a.lead || reshaped.rest != a.rest) {
                    return Err("reshape of a strided view".into());
                }
                self.set(node, Value::Act(reshaped));
            }
            "Slice" => {
                let a = self.act(input(0)?)?;
                let starts = self.known_ints(input(1)?)?;
                let ends = self.known_ints(input(2)?)?;
                let rank = a.rank() as i64;
                let axes = match node.input.get(3).filter(|s| !s.is_empty()) {
                    Some(n) => self.known_ints(n)?,
                    None => (0..starts.len() as i64).collect(),
                };
                if let Some(n) = node.input.get(4).filter(|s| !s.is_empty()) {
                    if self.known_ints(n)?.iter().any(|&s| s != 1) {
                        return Err("slice with a step other than 1".into());
                    }
                }
                let last = axes.len() == 1 && (axes[0] == -1 || axes[0] == rank - 1);
                if !last || a.lead != 1 || a.rank() != 2 || starts.len() != 1 || ends.len() != 1 {
                    return Err("slice other than a column range of a [B, n] tensor".into());
                }
                let dim = a.rest[0] as i64;
                let clamp = |v: i64| (if v < 0 { v + dim } else { v }).clamp(0, dim) as usize;
                let (start, end) = (clamp(starts[0]), clamp(ends[0]));
                if end <= start {
                    return Err("empty slice".into());
                }
                self.set(
                    node,
                    Value::Act(Act {
                        slot: Slot {
                            offset: a.slot.offset + start,
                            ..a.slot
                        },
                        lead: 1,
                        rest: vec![end - start],
                    }),
                );
            }
            "Gemm" | "MatMul" => {
                let a = self.act(input(0)?)?;
                let w = self.floats(input(1)?)?;
                let gemm = node.op_type == "Gemm";
                let alpha = if gemm {
                    attr_f("alpha")?.unwrap_or(1.0)
                } else {
                    1.0
                };
                let beta = if gemm {
                    attr_f("beta")?.unwrap_or(1.0)
                } else {
                    1.0
                };
                let trans_b = gemm && attr_i("transB")?.unwrap_or(0) != 0;
                if gemm && attr_i("transA")?.unwrap_or(0) != 0 {
                    return Err("Gemm with transA".into());
                }
                if a.rank() != 2 || w.ndim() != 2 {
                    return Err("matrix product other than [B, k] x [k, n] weights".into());
                }
                if a.lead > 1 && !a.contiguous() {
                    return Err("matrix product of a strided view".into());
                }
                let k_axis = if trans_b { 1 } else { 0 };
                let (k, m) = (w.shape()[k_axis], w.shape()[1 - k_axis]);
                if k != a.rest[0] {
                    return Err(format!("weights expect {k} inputs, got {}", a.rest[0]));
                }
                let mut bias = vec![0.0f32; m];
                if let Some(c) = node.input.get(2).filter(|s| !s.is_empty()) {
                    let c = self.floats(c)?;
                    // One value, or one per output ([m] or [1, m]); never per row.
                    let per_output = c.len() == m && c.shape().last() == Some(&m);
                    if c.len() == 1 || per_output {
                        let values: Vec<f32> = c.iter().copied().collect();
                        for (j, b) in bias.iter_mut().enumerate() {
                            *b = beta * values[j % values.len()];
                        }
                    } else {
                        return Err("bias that is not one value per output".into());
                    }
                }
                let weights = w.mapv(|v| v * alpha);
                let weights = Tensor::from(weights);
                let layer = Linear::new(&weights, k_axis, bias, self.max_rows * a.lead)
                    .map_err(|e| format!("{e:#}"))?;
                let out = self.buffer(a.lead * m);
                self.flops_per_row += 2 * (a.lead * k * m) as u64;
                self.steps.push(Step::Linear {
                    layer: Box::new(layer),
                    src: a.slot,
                    dst: out,
                    lead: a.lead,
                });
                self.set(
                    node,
                    Value::Act(Act {
                        slot: out,
                        lead: a.lead,
                        rest: vec![m],
                    }),
                );
            }
            "LayerNormalization" => {
                self.layer_norm(node, false)?;
            }
            "Flatten" => {
                let a = self.act(input(0)?)?;
                if attr_i("axis")?.unwrap_or(1) != 1 || a.lead != 1 {
                    return Err("flatten other than of every axis after the batch".into());
                }
                if !a.contiguous() && a.rank() > 2 {
                    return Err("flatten of a strided view".into());
                }
                let width = a.block();
                self.set(
                    node,
                    Value::Act(Act {
                        slot: a.slot,
                        lead: 1,
                        rest: vec![width],
                    }),
                );
            }
            "Conv" => self.conv(node)?,
            "Softmax" => {
                let a = self.act(input(0)?)?;
                let axis = attr_i("axis")?.unwrap_or(-1);
                last_axis(&a, axis)?;
                let out = self.fresh(&a);
                self.steps.push(Step::Softmax {
                    src: a.slot,
                    dst: out.slot,
                    width: a.block(),
                    group: *a.rest.last().ok_or("softmax over the batch")?,
                });
                self.set(node, Value::Act(out));
            }
            "Exp" | "Tanh" | "Sigmoid" | "Softplus" | "Relu" | "Neg" | "Abs" => {
                let f = match node.op_type.as_str() {
                    "Exp" => Unary::Exp,
                    "Tanh" => Unary::Tanh,
                    "Sigmoid" => Unary::Sigmoid,
                    "Softplus" => Unary::Softplus,
                    "Relu" => Unary::Relu,
                    "Neg" => Unary::Neg,
                    _ => Unary::Abs,
                };
                let a = self.act(input(0)?)?;
                self.unary(node, f, &a);
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                if let Some(chain) = fusion.mish.get(&ix) {
                    return match chain.norm {
                        Some(ln) => self.layer_norm_into(&graph.node[ln], node, true),
                        None => {
                            let a = self.act(&chain.x)?;
                            self.unary(node, Unary::Mish, &a);
                            Ok(())
                        }
                    };
                }
                let f = match node.op_type.as_str() {
                    "Add" => Binary::Add,
                    "Sub" => Binary::Sub,
                    "Mul" => Binary::Mul,
                    _ => Binary::Div,
                };
                let (l, r) = (self.get(input(0)?)?.clone(), self.get(input(1)?)?.clone());
                let value = match (l, r) {
                    (
                        Value::Ints {
                            dims: a,
                            scalar: sa,
                        },
                        Value::Ints {
                            dims: b,
                            scalar: sb,
                        },
                    ) => Value::Ints {
                        dims: int_binary(f, &a, &b)?,
                        scalar: sa && sb,
                    },
                    (Value::Act(a), Value::Act(b)) => {
                        if a.lead != b.lead || a.rest != b.rest {
                            return Err(
                                "elementwise op on batch tensors of different shapes".into()
                            );
                        }
                        let out = self.fresh(&a);
                        self.steps.push(Step::Binary {
                            f,
                            flipped: false,
                            a: a.slot,
                            b: Operand::Rows(b.slot),
                            dst: out.slot,
                            width: a.block(),
                        });
                        Value::Act(out)
                    }
                    (Value::Act(a), Value::Floats(c)) | (Value::Floats(c), Value::Act(a)) => {
                        let flipped = matches!(self.get(input(0)?)?, Value::Floats(_));
                        let block = broadcast_block(&a, &c)?;
                        let out = self.fresh(&a);
                        self.steps.push(Step::Binary {
                            f,
                            flipped,
                            a: a.slot,
                            b: Operand::Block(block),
                            dst: out.slot,
                            width: a.block(),
                        });
                        Value::Act(out)
                    }
                    _ => return Err("elementwise op on these operand kinds".into()),
                };
                self.set(node, value);
            }
            other => {
                return Err(format!("op `{other}` not supported by the fast executor"));
            }
        }
        if !extra_outputs_unused && node.op_type != "LayerNormalization" {
            return Err("uses secondary outputs".into());
        }
        Ok(())
    }

    /// A 2-D convolution of a planar `[B, C, H, W]` activation: groups and dilation 1,
    /// explicit padding (no `auto_pad`), any strides.
    fn conv(&mut self, node: &NodeProto) -> Result<(), String> {
        let ints = |name: &str| -> Result<Option<Vec<i64>>, String> {
            node.get_attr_opt_vec::<i64>(name)
                .map_err(|e| format!("{e:#}"))
        };
        let a = self.act(node.input.first().ok_or("missing input 0")?)?;
        if a.lead != 1 || a.rest.len() != 3 || !a.contiguous() {
            return Err("convolution of anything but a contiguous [B, C, H, W] tensor".into());
        }
        let w = self.floats(node.input.get(1).ok_or("missing weights")?)?;
        if w.ndim() != 4 {
            return Err(format!("convolution weights of rank {}", w.ndim()));
        }
        let (cout, cin, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
        let [c, h, wd] = [a.rest[0], a.rest[1], a.rest[2]];
        if cin != c {
            return Err(format!("weights expect {cin} channels, got {c}"));
        }
        let group = node
            .get_attr_opt::<i64>("group")
            .map_err(|e| format!("{e:#}"))?
            .unwrap_or(1);
        if group != 1 {
            return Err(format!("grouped convolution ({group} groups)"));
        }
        if ints("dilations")?.is_some_and(|d| d.iter().any(|&v| v != 1)) {
            return Err("dilated convolution".into());
        }
        let auto_pad = node
            .get_attr_opt::<&str>("auto_pad")
            .map_err(|e| format!("{e:#}"))?
            .unwrap_or("NOTSET");
        if auto_pad != "NOTSET" {
            return Err(format!("convolution with auto_pad {auto_pad}"));
        }
        let strides = ints("strides")?.unwrap_or_else(|| vec![1, 1]);
        let pads = ints("pads")?.unwrap_or_else(|| vec![0, 0, 0, 0]);
        if strides.len() != 2 || strides.iter().any(|&s| s < 1) || pads.len() != 4 {
            return Err("convolution strides / pads that are not 2-D".into());
        }
        if pads.iter().any(|&p| p < 0 || p as usize >= kh.max(kw)) {
            return Err("convolution padding as wide as the kernel".into());
        }
        let span = |size: usize, before: i64, after: i64, k: usize, stride: i64| {
            let padded = size as i64 + before + after;
            (padded >= k as i64).then(|| ((padded - k as i64) / stride + 1) as usize)
        };
        let (Some(ho), Some(wo)) = (
            span(h, pads[0], pads[2], kh, strides[0]),
            span(wd, pads[1], pads[3], kw, strides[1]),
        ) else {
            return Err("convolution kernel larger than its input".into());
        };
        let geometry = super::step::ConvGeometry {
            cin,
            h,
            w: wd,
            cout,
            kh,
            kw,
            stride: [strides[0] as usize, strides[1] as usize],
            pad: [pads[0] as usize, pads[1] as usize],
            ho,
            wo,
        };
        let mut bias = vec![0.0f32; cout];
        if let Some(b) = node.input.get(2).filter(|s| !s.is_empty()) {
            let b = self.floats(b)?;
            if b.len() != cout {
                return Err(format!(
                    "convolution bias of {} for {cout} outputs",
                    b.len()
                ));
            }
            bias = b.iter().copied().collect();
        }
        let k = geometry.window();
        let weights: Vec<f32> = w.iter().copied().collect();
        let positions = geometry.positions();
        let conv = Conv::new(geometry, &weights, &bias).map_err(|e| format!("{e:#}"))?;
        let out = self.buffer(cout * positions);
        self.flops_per_row += 2 * (positions * k * cout) as u64;
        self.steps.push(Step::Conv {
            conv: Box::new(conv),
            src: a.slot,
            dst: out,
        });
        self.set(
            node,
            Value::Act(Act {
                slot: out,
                lead: 1,
                rest: vec![cout, ho, wo],
            }),
        );
        Ok(())
    }

    fn unary(&mut self, node: &NodeProto, f: Unary, a: &Act) {
        let out = self.fresh(a);
        self.steps.push(Step::Unary {
            f,
            src: a.slot,
            dst: out.slot,
            width: a.block(),
        });
        self.set(node, Value::Act(out));
    }

    fn layer_norm(&mut self, node: &NodeProto, mish: bool) -> Result<(), String> {
        self.layer_norm_into(node, node, mish)
    }

    /// Lowers the LayerNormalization `ln`, storing its result as `result_of`'s output.
    fn layer_norm_into(
        &mut self,
        ln: &NodeProto,
        result_of: &NodeProto,
        mish: bool,
    ) -> Result<(), String> {
        if ln.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Err("LayerNormalization mean / inverse-std outputs are not supported".into());
        }
        let a = self.act(ln.input.first().ok_or("missing input")?)?;
        let axis = ln
            .get_attr_opt::<i64>("axis")
            .map_err(|e| format!("{e:#}"))?
            .unwrap_or(-1);
        last_axis(&a, axis)?;
        let epsilon = ln
            .get_attr_opt::<f32>("epsilon")
            .map_err(|e| format!("{e:#}"))?
            .unwrap_or(1e-5);
        let c = *a.rest.last().ok_or("normalising over the batch")?;
        let vector = |name: Option<&String>, default: f32| -> Result<Vec<f32>, String> {
            match name.filter(|s| !s.is_empty()) {
                None => Ok(vec![default; c]),
                Some(n) => {
                    let t = self.floats(n)?;
                    if t.len() != c {
                        return Err(format!("`{n}` has {} values for {c} features", t.len()));
                    }
                    Ok(t.iter().copied().collect())
                }
            }
        };
        let scale = vector(ln.input.get(1), 1.0)?;
        let bias = vector(ln.input.get(2), 0.0)?;
        let out = self.fresh(&a);
        self.steps.push(Step::LayerNorm {
            src: a.slot,
            dst: out.slot,
            width: a.block(),
            scale,
            bias,
            epsilon,
            mish,
        });
        self.set(result_of, Value::Act(out));
        Ok(())
    }
}

/// Checks that `axis` is the last axis of `a` and is not the batch.
fn last_axis(a: &Act, axis: i64) -> Result<(), String> {
    let rank = a.rank() as i64;
    if (axis != -1 && axis != rank - 1) || a.rest.is_empty() {
        return Err(format!(
            "axis {axis} of a rank-{rank} tensor is not its last feature axis"
        ));
    }
    if a.lead > 1 && !a.contiguous() {
        return Err("grouped op on a strided view".into());
    }
    Ok(())
}

/// Applies an ONNX Reshape target to a batch tensor, keeping the batch leading.
fn reshape(a: &Act, target: &[Sym]) -> Result<Act, String> {
    let block = a.block() as i64;
    let mut input_dims = vec![Sym {
        b: a.lead as i64,
        c: 0,
    }];
    input_dims.extend(a.rest.iter().map(|&d| Sym::known(d as i64)));
    // 0 copies the input's dim at that position.
    let dims: Vec<Sym> = target
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if d == Sym::known(0) {
                input_dims
                    .get(i)
                    .copied()
                    .ok_or("reshape copies a missing dim")
            } else {
                Ok(d)
            }
        })
        .collect::<Result<_, _>>()?;
    let first = *dims.first().ok_or("reshape to a scalar")?;
    let rest: Vec<i64> = dims[1..]
        .iter()
        .map(|d| {
            d.value()
                .ok_or("reshape moves the batch off the first axis")
        })
        .collect::<Result<_, _>>()?;
    if rest.iter().any(|&d| d <= 0) {
        return Err("reshape with -1 off the first axis".into());
    }
    let inner: i64 = rest.iter().product();
    let lead = if first == Sym::known(-1) {
        if block % inner != 0 {
            return Err(format!("cannot reshape rows of {block} into {inner}"));
        }
        block / inner
    } else if first.c == 0 && first.b > 0 {
        first.b
    } else {
        return Err("reshape fixes the batch size".into());
    };
    if lead * inner != block {
        return Err(format!(
            "reshape of {block} values per row into {}",
            lead * inner
        ));
    }
    Ok(Act {
        slot: a.slot,
        lead: lead as usize,
        rest: rest.into_iter().map(|d| d as usize).collect(),
    })
}

/// Integer arithmetic on folded shape values (numpy broadcasting of length-1 operands).
fn int_binary(f: Binary, a: &[Sym], b: &[Sym]) -> Result<Vec<Sym>, String> {
    let n = a.len().max(b.len());
    if (a.len() != n && a.len() != 1) || (b.len() != n && b.len() != 1) {
        return Err("integer operands of different lengths".into());
    }
    (0..n)
        .map(|i| {
            let (x, y) = (a[i.min(a.len() - 1)], b[i.min(b.len() - 1)]);
            match f {
                Binary::Add => Ok(Sym {
                    b: x.b + y.b,
                    c: x.c + y.c,
                }),
                Binary::Sub => Ok(Sym {
                    b: x.b - y.b,
                    c: x.c - y.c,
                }),
                Binary::Mul => match (x.value(), y.value()) {
                    (Some(k), _) => Ok(Sym {
                        b: k * y.b,
                        c: k * y.c,
                    }),
                    (_, Some(k)) => Ok(Sym {
                        b: k * x.b,
                        c: k * x.c,
                    }),
                    _ => Err("product of two batch-dependent integers".into()),
                },
                Binary::Div => {
                    let k = y.value().ok_or("division by a batch-dependent integer")?;
                    if k == 0 {
                        return Err("integer division by zero".into());
                    }
                    if x.b % k != 0 {
                        return Err("batch-dependent integer not divisible".into());
                    }
                    Ok(Sym {
                        b: x.b / k,
                        c: x.c / k,
                    })
                }
            }
        })
        .collect()
}

/// Expands constant `c` to one batch row of `a` (numpy broadcasting; `c` must not vary
/// along the batch axis).
fn broadcast_block(a: &Act, c: &ArrayD<f32>) -> Result<Vec<f32>, String> {
    let rank = a.rank();
    if c.ndim() > rank {
        return Err("constant of higher rank than the batch tensor".into());
    }
    let mut shape = vec![1usize; rank - c.ndim()];
    shape.extend_from_slice(c.shape());
    if shape[0] != 1 {
        return Err("constant that varies along the batch".into());
    }
    let c = c
        .view()
        .into_shape_with_order(IxDyn(&shape[1..]))
        .map_err(|e| e.to_string())?;
    let row = c
        .broadcast(IxDyn(&a.rest))
        .ok_or("constant does not broadcast to the tensor")?;
    let row: Array1<f32> = row.iter().copied().collect();
    Ok(row.iter().copied().cycle().take(a.block()).collect())
}
