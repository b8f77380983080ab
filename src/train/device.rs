//! The training device, chosen at run time: `--device auto|cpu|wgpu|vulkan|cuda|tch`.

use burn::tensor::Device;

use crate::error::{Error, Result};
use crate::gpu::{wgpu_device, GpuApi};

/// What `--device` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when built with it and a driver is present, else a real GPU
    /// through wgpu, else LibTorch's CPU kernels when built in, else flex.
    Auto,
    /// Burn's pure-Rust CPU backend (flex), all cores.
    Cpu,
    /// Burn's wgpu backend on whatever graphics API wgpu prefers.
    Wgpu,
    /// Burn's wgpu backend on Vulkan.
    Vulkan,
    /// Burn's CUDA backend (cargo feature `cuda`).
    Cuda,
    /// LibTorch through burn-tch (cargo feature `tch`), CUDA if available.
    Tch,
}

impl DeviceChoice {
    /// The `--device` value that asks for this choice (for commands that
    /// start other soundclass processes).
    pub fn as_arg(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value()
            .map_or_else(|| "auto".to_string(), |v| v.get_name().to_string())
    }
}

/// A device ready to train on.
#[derive(Debug, Clone)]
pub struct TrainDevice {
    /// The backend device (without autodiff).
    pub device: Device,
    /// `cpu`, `wgpu`, `vulkan`, `cuda` or `tch`.
    pub name: &'static str,
    /// One line for the user: what was picked and why.
    pub description: String,
    /// Whether our WGSL kernels can run on it (log-Mel on the device).
    pub wgpu: bool,
}

impl TrainDevice {
    pub fn select(choice: DeviceChoice) -> Result<Self> {
        match choice {
            DeviceChoice::Auto => auto(),
            DeviceChoice::Cpu => Ok(cpu("requested")),
            DeviceChoice::Wgpu => wgpu(GpuApi::Auto, "wgpu", "requested", best_adapter()),
            DeviceChoice::Vulkan => wgpu(GpuApi::Vulkan, "vulkan", "requested", best_adapter()),
            DeviceChoice::Cuda => cuda("requested"),
            DeviceChoice::Tch => tch(),
        }
    }
}

fn cpu(why: &str) -> TrainDevice {
    let threads = rayon::current_num_threads();
    TrainDevice {
        device: Device::flex(),
        name: "cpu",
        description: format!("cpu (Burn flex backend, {threads} threads; {why})"),
        wgpu: false,
    }
}

fn wgpu(
    api: GpuApi,
    name: &'static str,
    why: &str,
    adapter: Option<wgpu::AdapterInfo>,
) -> Result<TrainDevice> {
    let adapter = adapter
        .map(|a| format!("{} ({:?}, {:?})", a.name, a.device_type, a.backend))
        .unwrap_or_else(|| "adapter unknown".into());
    Ok(TrainDevice {
        device: wgpu_device(api)?,
        name,
        description: format!("{name}: {adapter}; {why}"),
        wgpu: true,
    })
}

#[cfg(feature = "cuda")]
fn cuda(why: &str) -> Result<TrainDevice> {
    Ok(TrainDevice {
        device: Device::cuda(0),
        name: "cuda",
        description: format!("cuda:0 (Burn CUDA backend; {why})"),
        wgpu: false,
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda(_why: &str) -> Result<TrainDevice> {
    Err(Error::InvalidArgument(
        "--device cuda: this binary was built without the `cuda` cargo feature \
         (rebuild with `cargo build --release --features cuda`, or use --device vulkan)"
            .into(),
    ))
}

#[cfg(feature = "tch")]
#[allow(deprecated)] // burn-tch is deprecated upstream; offered as the design asks.
fn tch() -> Result<TrainDevice> {
    let cuda = nvidia_driver_present();
    Ok(TrainDevice {
        device: if cuda {
            Device::libtorch_cuda(0)
        } else {
            Device::libtorch()
        },
        name: "tch",
        description: format!("tch: LibTorch {}", if cuda { "CUDA:0" } else { "CPU" }),
        wgpu: false,
    })
}

#[cfg(not(feature = "tch"))]
fn tch() -> Result<TrainDevice> {
    Err(Error::InvalidArgument(
        "--device tch: this binary was built without the `tch` cargo feature (see README, \
         \"Optional backends\")"
            .into(),
    ))
}

/// CUDA (Burn's, then LibTorch's) where an NVIDIA driver is loaded, else a
/// real GPU through wgpu, else LibTorch's CPU kernels when built in (the
/// same oneDNN/MKL kernels as PyTorch: about 4x flex on a training step,
/// README), else flex.
fn auto() -> Result<TrainDevice> {
    if cfg!(feature = "cuda") && nvidia_driver_present() {
        return cuda("auto: NVIDIA driver found");
    }
    if cfg!(feature = "tch") && nvidia_driver_present() {
        return tch();
    }
    let software_cpu = |why: String| {
        if cfg!(feature = "tch") {
            tch()
        } else {
            Ok(cpu(&why))
        }
    };
    match best_adapter() {
        Some(adapter) if adapter.device_type != wgpu::DeviceType::Cpu => wgpu(
            GpuApi::Auto,
            "wgpu",
            &format!("auto: {:?} GPU found", adapter.device_type),
            Some(adapter),
        ),
        Some(adapter) => software_cpu(format!(
            "auto: the only wgpu adapter, {}, is a software rasterizer; pass --device wgpu to use it",
            adapter.name
        )),
        None => software_cpu("auto: no GPU adapter found".into()),
    }
}

/// Whether an NVIDIA kernel driver is loaded (its control node exists).
fn nvidia_driver_present() -> bool {
    std::path::Path::new("/dev/nvidiactl").exists()
}

/// The adapter wgpu would rank first: discrete, then integrated, then
/// virtual, then software.
fn best_adapter() -> Option<wgpu::AdapterInfo> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapters = cubecl::future::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let rank = |t: wgpu::DeviceType| match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    adapters
        .iter()
        .map(|a| a.get_info())
        .min_by_key(|info| rank(info.device_type))
}
