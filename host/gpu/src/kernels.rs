//! The WGSL kernels and their pipelines. Each kernel is one file under `wgsl/`, prefixed with
//! `common.wgsl`; a kernel that reads weights also gets `types.wgsl`, with `DQ4` bound to the
//! weight type's dequantizer; the matmuls on quantized activations (`MatmulVecQ`,
//! `MatmulTiledQ`) also get `qdot.wgsl`, with `QDOT` bound to the type's block dot product and
//! `idot4` to dot4I8Packed or its fallback. Pipelines are made once per (kernel, type) and
//! shared by every plan on the device.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::layout::Layout;
use crate::GpuError;

/// A kernel file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Embed,
    MatmulVec,
    MatmulTiled,
    /// Activation rows quantized to the weight type's dot-product partner.
    Quantize,
    /// The matmuls of quantized weights, on quantized activations.
    MatmulVecQ,
    MatmulTiledQ,
    Norm,
    Elementwise,
    /// GELU and GeGlu through the CPU's f16 table (a buffer of the plan).
    Gelu,
    Rope,
    KvWrite,
    Attention,
    Rows,
    TopK,
}

impl Kernel {
    /// Every kernel, for tests that build them all.
    pub const ALL: [Kernel; 14] = [
        Kernel::Embed,
        Kernel::MatmulVec,
        Kernel::MatmulTiled,
        Kernel::Quantize,
        Kernel::MatmulVecQ,
        Kernel::MatmulTiledQ,
        Kernel::Norm,
        Kernel::Elementwise,
        Kernel::Gelu,
        Kernel::Rope,
        Kernel::KvWrite,
        Kernel::Attention,
        Kernel::Rows,
        Kernel::TopK,
    ];

    fn source(self) -> &'static str {
        match self {
            Kernel::Embed => include_str!("wgsl/embed.wgsl"),
            Kernel::MatmulVec => include_str!("wgsl/matmul_vec.wgsl"),
            Kernel::MatmulTiled => include_str!("wgsl/matmul_tiled.wgsl"),
            Kernel::Quantize => include_str!("wgsl/quantize.wgsl"),
            Kernel::MatmulVecQ => include_str!("wgsl/matmul_vec_q.wgsl"),
            Kernel::MatmulTiledQ => include_str!("wgsl/matmul_tiled_q.wgsl"),
            Kernel::Norm => include_str!("wgsl/norm.wgsl"),
            Kernel::Elementwise => concat!(include_str!("wgsl/ew_bindings.wgsl"), include_str!("wgsl/elementwise.wgsl")),
            Kernel::Gelu => concat!(include_str!("wgsl/ew_bindings.wgsl"), include_str!("wgsl/gelu.wgsl")),
            Kernel::Rope => include_str!("wgsl/rope.wgsl"),
            Kernel::KvWrite => include_str!("wgsl/kv_write.wgsl"),
            Kernel::Attention => include_str!("wgsl/attention.wgsl"),
            Kernel::Rows => include_str!("wgsl/rows.wgsl"),
            Kernel::TopK => include_str!("wgsl/topk.wgsl"),
        }
    }

    /// Whether the kernel reads a weight matrix (and so has one pipeline per weight type).
    pub fn typed(self) -> bool {
        matches!(self, Kernel::Embed | Kernel::MatmulVec | Kernel::MatmulTiled | Kernel::MatmulVecQ | Kernel::MatmulTiledQ)
    }

    /// Whether the kernel takes integer block dot products (`qdot.wgsl`).
    fn integer(self) -> bool {
        matches!(self, Kernel::MatmulVecQ | Kernel::MatmulTiledQ)
    }
}

/// The full WGSL of `kernel` for weights of `layout` (ignored by untyped kernels), with
/// dot4I8Packed.
pub fn wgsl(kernel: Kernel, layout: Option<&Layout>) -> String {
    wgsl_with(kernel, layout, true)
}

/// `wgsl`, with dot4I8Packed (`dot4`) or its fallback.
pub fn wgsl_with(kernel: Kernel, layout: Option<&Layout>, dot4: bool) -> String {
    let mut src = String::from(include_str!("wgsl/common.wgsl"));
    src.push('\n');
    let body = kernel.source();
    if matches!(kernel, Kernel::MatmulVec | Kernel::MatmulTiled | Kernel::MatmulVecQ | Kernel::MatmulTiledQ) {
        src.push_str(include_str!("wgsl/matmul_head.wgsl"));
        src.push('\n');
    }
    if matches!(kernel, Kernel::MatmulVec | Kernel::MatmulTiled) {
        src.push_str(include_str!("wgsl/matmul_x.wgsl"));
        src.push('\n');
    }
    if matches!(kernel, Kernel::MatmulVec | Kernel::MatmulVecQ) {
        src.push_str(include_str!("wgsl/matmul_reduce.wgsl"));
        src.push('\n');
    }
    if kernel.typed() {
        let name = layout.map(Layout::wgsl_name).unwrap_or_else(|| "f32".into());
        // The kernel's bindings (W among them) come first: types.wgsl reads W.
        let body = body.replace("DQ4(", &format!("dq4_{name}(")).replace("QDOT(", &format!("qdot_{name}("));
        let lanes = layout.is_some_and(Layout::ggml_lanes);
        let body = body.replace("QDOT1(", &format!("r1_qdot_{name}("));
        let body = if lanes {
            body.replace("QLANE1(", &format!("r1_qlane_{name}(")).replace("QSCALE1(", &format!("r1_qscale_{name}("))
                .replace("QLANE(", &format!("qlane_{name}(")).replace("QSCALE(", &format!("qscale_{name}("))
        } else {
            body.replace("QLANE1(", "no_lane(").replace("QSCALE1(", "no_scale(").replace("QLANE(", "no_lane(").replace("QSCALE(", "no_scale(")
        };
        src.push_str(&body.replace("GGML_LANES", if lanes { "true" } else { "false" }));
        src.push('\n');
        src.push_str(include_str!("wgsl/types.wgsl"));
        if kernel.integer() {
            src.push('\n');
            src.push_str(include_str!("wgsl/qdot.wgsl"));
            src.push('\n');
            src.push_str(include_str!("wgsl/qdot_rows.wgsl"));
            if kernel == Kernel::MatmulVecQ {
                src.push('\n');
                src.push_str(&one_row(include_str!("wgsl/qdot.wgsl")));
            }
            src.push('\n');
            src.push_str(if dot4 { include_str!("wgsl/idot4_native.wgsl") } else { include_str!("wgsl/idot4_fallback.wgsl") });
        }
    } else {
        src.push_str(body);
    }
    src
}

/// qdot.wgsl for one row: every function it defines or reads rows through renamed `r1_…`,
/// its four-lane vectors made scalars.
fn one_row(src: &str) -> String {
    let mut names: Vec<&str> = src.lines().filter_map(|l| l.strip_prefix("fn ")?.split('(').next()).collect();
    names.extend(["xq4", "idot4x"]);
    let mut out = src.replace("vec4<i32>", "i32").replace("vec4<f32>", "f32").replace("vec4<u32>", "u32");
    for name in names {
        let call = format!("{name}(");
        let mut renamed = String::with_capacity(out.len() + 64);
        let mut rest = out.as_str();
        while let Some(at) = rest.find(&call) {
            let whole = rest[..at].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            renamed.push_str(&rest[..at]);
            if whole {
                renamed.push_str("r1_");
            }
            renamed.push_str(&call);
            rest = &rest[at + call.len()..];
        }
        renamed.push_str(rest);
        out = renamed;
    }
    out
}

/// Runs `f` inside validation and internal error scopes and turns what they capture into
/// `GpuError::Unsupported` (`what` says what was being done), instead of leaving it to wgpu's
/// uncaptured-error handler, which panics. In a browser the scopes' answers are asynchronous,
/// so errors go to that handler (the console) as before.
pub(crate) fn scoped<T>(device: &wgpu::Device, what: impl FnOnce() -> String, f: impl FnOnce() -> Result<T, GpuError>) -> Result<T, GpuError> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
        let out = f();
        // Popped innermost first; native scopes answer at once.
        let internal = pollster::block_on(internal.pop());
        let validation = pollster::block_on(validation.pop());
        if let Some(e) = validation.or(internal) {
            return Err(GpuError::Unsupported(format!("{}: {e}", what())));
        }
        out
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = (device, what);
        f()
    }
}

/// A compute pipeline of `src`'s `main`; a kernel the adapter rejects is an error.
pub(crate) fn make_pipeline(device: &wgpu::Device, label: &str, src: &str) -> Result<wgpu::ComputePipeline, GpuError> {
    scoped(
        device,
        || format!("kernel {label} does not build on this adapter"),
        || {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(label), source: wgpu::ShaderSource::Wgsl(src.into()) });
            Ok(device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            }))
        },
    )
}

/// Pipelines by (kernel, weight type id).
pub struct Pipelines {
    made: Mutex<HashMap<(Kernel, u32), wgpu::ComputePipeline>>,
    /// Whether the integer matmuls use dot4I8Packed (WGSL's packed_4x8_integer_dot_product).
    pub dot4: bool,
}

impl Pipelines {
    pub fn new(dot4: bool) -> Pipelines {
        Pipelines { made: Mutex::default(), dot4 }
    }

    pub fn get(&self, device: &wgpu::Device, kernel: Kernel, layout: Option<&Layout>) -> Result<wgpu::ComputePipeline, GpuError> {
        let ty = if kernel.typed() { layout.map(|l| l.ty.id).unwrap_or(0) } else { u32::MAX };
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = made.get(&(kernel, ty)) {
            return Ok(p.clone());
        }
        let pipeline = make_pipeline(device, &format!("{kernel:?}/{ty}"), &wgsl_with(kernel, layout, self.dot4))?;
        made.insert((kernel, ty), pipeline.clone());
        Ok(pipeline)
    }
}
