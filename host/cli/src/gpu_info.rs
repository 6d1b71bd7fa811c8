//! `wollama gpu-info`: the adapters wgpu sees (`WGPU_BACKEND` narrows the backends, as the
//! GPU executor reads it), and which one each `--device` takes.

use anyhow::{bail, Result};

fn is_hardware(t: wgpu::DeviceType) -> bool {
    matches!(t, wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu | wgpu::DeviceType::VirtualGpu)
}

pub fn run() -> Result<()> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    if let Ok(v) = std::env::var("WGPU_BACKEND") {
        desc.backends = wgpu::Backends::from_comma_list(&v);
    }
    let instance = wgpu::Instance::new(desc);
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
    for i in &infos {
        let kind = if is_hardware(i.device_type) { "hardware" } else { "software" };
        println!("{} ({:?}, {:?}, {kind}){}", i.name, i.backend, i.device_type, driver(i));
    }
    if infos.is_empty() {
        bail!("no GPU adapter (no Vulkan, Metal, DX12 or GL driver; lavapipe counts): --device auto runs on the CPU");
    }
    let hardware = infos.iter().find(|i| is_hardware(i.device_type));
    let first = hardware.unwrap_or(&infos[0]);
    println!("--device gpu: {}", first.name);
    match hardware {
        Some(h) => println!("--device auto: {}", h.name),
        None => println!("--device auto: the CPU (no hardware GPU adapter)"),
    }
    Ok(())
}

fn driver(i: &wgpu::AdapterInfo) -> String {
    match (i.driver.is_empty(), i.driver_info.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(", driver {}", i.driver),
        (true, false) => format!(", driver {}", i.driver_info),
        (false, false) => format!(", driver {} {}", i.driver, i.driver_info),
    }
}
