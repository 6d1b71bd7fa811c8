//! The device a GPU executor runs on: which adapter (`Choice`), the limits and features it
//! grants, what it is called, and whether it has been lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::GpuError;

/// Which adapters a caller accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// A hardware adapter (discrete, integrated or virtual GPU) only; None when there is none.
    Hardware,
    /// The first adapter there is, a software one such as lavapipe or SwiftShader included.
    Any,
}

/// Limits below the adapter's own, for tests that must exercise the row-split path on a
/// device whose real limits are large.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitOverride {
    /// Caps `max_storage_buffer_binding_size` and `max_buffer_size` (bytes).
    pub max_binding: Option<u64>,
}

/// What the executor knows of its adapter, for the serve log and `/api/ps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// Whether the WGSL f16 type is enabled (`shader-f16`).
    pub shader_f16: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {}", self.name, self.backend, self.device_type)?;
        if !self.driver.is_empty() {
            write!(f, ", {}", self.driver)?;
        }
        write!(f, ")")
    }
}

/// One wgpu device and queue. Plans compiled on it share it; a lost device fails every plan's
/// runs until the caller builds a new executor.
pub struct GpuDevice {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) summary: AdapterSummary,
    /// Largest storage binding and buffer this executor lets itself create.
    pub(crate) max_binding: u64,
    pub(crate) max_workgroups: u32,
    /// Whether WGSL's packed_4x8_integer_dot_product (dot4I8Packed) is available.
    pub(crate) dot4: bool,
    lost: Arc<AtomicBool>,
}

impl GpuDevice {
    /// The first adapter `choice` accepts, with the highest limits it offers (WebGPU's defaults
    /// are too small for an LM head) and `shader-f16` where it has it.
    pub async fn open(choice: Choice, limits: LimitOverride) -> Result<GpuDevice, GpuError> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        if let Some(b) = backends_from_env() {
            desc.backends = b;
        }
        let instance = wgpu::Instance::new(desc);
        let dot4 = instance.wgsl_language_features().contains(wgpu::WgslLanguageFeatures::Packed4x8IntegerDotProduct);
        let adapter = pick_adapter(&instance, choice).await?;
        let info = adapter.get_info();
        let offered = adapter.limits();
        let mut features = wgpu::Features::empty();
        let shader_f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
        if shader_f16 {
            features |= wgpu::Features::SHADER_F16;
        }
        let mut required = wgpu::Limits::downlevel_defaults();
        required.max_storage_buffer_binding_size = offered.max_storage_buffer_binding_size;
        required.max_buffer_size = offered.max_buffer_size;
        required.max_storage_buffers_per_shader_stage = offered.max_storage_buffers_per_shader_stage.min(10);
        required.max_compute_workgroup_storage_size = offered.max_compute_workgroup_storage_size.min(32 << 10);
        required.max_compute_invocations_per_workgroup = offered.max_compute_invocations_per_workgroup.min(256);
        required.max_compute_workgroup_size_x = offered.max_compute_workgroup_size_x.min(256);
        required.max_compute_workgroup_size_y = offered.max_compute_workgroup_size_y.min(256);
        required.max_compute_workgroups_per_dimension = offered.max_compute_workgroups_per_dimension;
        if let Some(cap) = limits.max_binding {
            // The device itself enforces the cap: a buffer over it is a validation error, not
            // a test that passes on an adapter with large limits.
            required.max_storage_buffer_binding_size = required.max_storage_buffer_binding_size.min(cap);
            required.max_buffer_size = required.max_buffer_size.min(cap);
        }
        if required.max_storage_buffers_per_shader_stage < 8 {
            return Err(GpuError::Unsupported(format!(
                "adapter {} allows {} storage buffers per shader stage; the kernels need 8",
                info.name, required.max_storage_buffers_per_shader_stage
            )));
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("wollama"),
                required_features: features,
                required_limits: required.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::Unsupported(format!("adapter {}: {e}", info.name)))?;
        let lost = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&lost);
        device.set_device_lost_callback(move |_reason, _msg| flag.store(true, Ordering::SeqCst));
        let max_binding = required.max_storage_buffer_binding_size.min(required.max_buffer_size);
        let name = if info.name.is_empty() { format!("{:?} adapter", info.device_type) } else { info.name.clone() };
        Ok(GpuDevice {
            summary: AdapterSummary {
                name,
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                driver: info.driver_info.clone(),
                shader_f16,
            },
            max_binding,
            max_workgroups: required.max_compute_workgroups_per_dimension,
            dot4,
            device,
            queue,
            lost,
        })
    }

    pub fn summary(&self) -> &AdapterSummary {
        &self.summary
    }

    /// Whether the device is gone (driver reset, GPU removed, browser reclaimed it).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Largest buffer one tensor chunk may occupy here (limits and any override applied).
    pub fn max_binding(&self) -> u64 {
        self.max_binding
    }

    /// Marks the device lost, as the driver would: tests of the recovery path use it.
    #[doc(hidden)]
    pub fn simulate_loss(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }
}

/// `WGPU_BACKEND` (`vulkan`, `metal`, `dx12`, `gl`, `webgpu`), as wgpu's own examples read it.
fn backends_from_env() -> Option<wgpu::Backends> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let v = std::env::var("WGPU_BACKEND").ok()?;
        Some(wgpu::Backends::from_comma_list(&v))
    }
    #[cfg(target_arch = "wasm32")]
    {
        None
    }
}

fn is_hardware(t: wgpu::DeviceType) -> bool {
    matches!(t, wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu | wgpu::DeviceType::VirtualGpu)
}

async fn pick_adapter(instance: &wgpu::Instance, choice: Choice) -> Result<wgpu::Adapter, GpuError> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
        // Hardware before software, then the backend order wgpu lists them in.
        adapters.sort_by_key(|a| !is_hardware(a.get_info().device_type));
        let found = adapters.into_iter().find(|a| choice == Choice::Any || is_hardware(a.get_info().device_type));
        found.ok_or_else(|| match choice {
            Choice::Hardware => GpuError::NoAdapter("no hardware GPU adapter was found".into()),
            Choice::Any => GpuError::NoAdapter(
                "no GPU adapter was found (no Vulkan, Metal, DX12 or GL driver; lavapipe counts)".into(),
            ),
        })
    }
    #[cfg(target_arch = "wasm32")]
    {
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoAdapter(format!("WebGPU has no adapter: {e}")))?;
        if choice == Choice::Hardware && !is_hardware(adapter.get_info().device_type) {
            return Err(GpuError::NoAdapter("WebGPU offers only a software adapter".into()));
        }
        Ok(adapter)
    }
}
