//! The WGSL kernels and their pipelines. Each kernel is one file under `wgsl/`, prefixed with
//! `common.wgsl`; a kernel that reads weights also gets `types.wgsl`, with `DQ4` bound to the
//! weight type's dequantizer. Pipelines are made once per (kernel, type) and shared by every
//! plan on the device.

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
    Norm,
    Elementwise,
    Rope,
    KvWrite,
    Attention,
    Rows,
    TopK,
}

impl Kernel {
    /// Every kernel, for tests that build them all.
    pub const ALL: [Kernel; 10] = [
        Kernel::Embed,
        Kernel::MatmulVec,
        Kernel::MatmulTiled,
        Kernel::Norm,
        Kernel::Elementwise,
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
            Kernel::Norm => include_str!("wgsl/norm.wgsl"),
            Kernel::Elementwise => include_str!("wgsl/elementwise.wgsl"),
            Kernel::Rope => include_str!("wgsl/rope.wgsl"),
            Kernel::KvWrite => include_str!("wgsl/kv_write.wgsl"),
            Kernel::Attention => include_str!("wgsl/attention.wgsl"),
            Kernel::Rows => include_str!("wgsl/rows.wgsl"),
            Kernel::TopK => include_str!("wgsl/topk.wgsl"),
        }
    }

    /// Whether the kernel reads a weight matrix (and so has one pipeline per weight type).
    pub fn typed(self) -> bool {
        matches!(self, Kernel::Embed | Kernel::MatmulVec | Kernel::MatmulTiled)
    }
}

/// The full WGSL of `kernel` for weights of `layout` (ignored by untyped kernels).
pub fn wgsl(kernel: Kernel, layout: Option<&Layout>) -> String {
    let mut src = String::from(include_str!("wgsl/common.wgsl"));
    src.push('\n');
    let body = kernel.source();
    if kernel.typed() {
        let name = layout.map(Layout::wgsl_name).unwrap_or_else(|| "f32".into());
        // The kernel's bindings (W among them) come first: types.wgsl reads W.
        src.push_str(&body.replace("DQ4(", &format!("dq4_{name}(")));
        src.push('\n');
        src.push_str(include_str!("wgsl/types.wgsl"));
    } else {
        src.push_str(body);
    }
    src
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
#[derive(Default)]
pub struct Pipelines {
    made: Mutex<HashMap<(Kernel, u32), wgpu::ComputePipeline>>,
}

impl Pipelines {
    pub fn get(&self, device: &wgpu::Device, kernel: Kernel, layout: Option<&Layout>) -> Result<wgpu::ComputePipeline, GpuError> {
        let ty = if kernel.typed() { layout.map(|l| l.ty.id).unwrap_or(0) } else { u32::MAX };
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = made.get(&(kernel, ty)) {
            return Ok(p.clone());
        }
        let pipeline = make_pipeline(device, &format!("{kernel:?}/{ty}"), &wgsl(kernel, layout))?;
        made.insert((kernel, ty), pipeline.clone());
        Ok(pipeline)
    }
}
