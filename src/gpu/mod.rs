//! Log-Mel on the GPU with our own WGSL kernels (`kernels/*.wgsl`), launched
//! on Burn's wgpu runtime so they read and write Burn tensors in place:
//! a training step can turn a `[clips, samples]` waveform tensor into a
//! `[clips, n_mels, frames]` log-Mel tensor without leaving the device.
//!
//! Pipeline (fp32 throughout):
//! 1. `stft_power.wgsl`: framing, window, radix-2 real FFT in workgroup
//!    memory, |X|^power, one frame per workgroup (n_fft a power of two up to
//!    4096); otherwise `dft_power.wgsl`, a direct DFT with exact twiddles
//!    (the documented fallback for other sizes).
//! 2. `mel_project.wgsl`: sparse filterbank projection.
//! 3. `power_to_db.wgsl`: librosa's `power_to_db`, one clip per workgroup.

use burn::backend::wgpu::{
    into_contiguous, CubeTensor, KernelSource, SourceKernel, SourceTemplate, Wgpu,
};
use burn::tensor::wgpu::WgpuBackend;
use burn::tensor::{DType, Device, DeviceKind, Shape, Tensor, TensorData};
use cubecl::client::Client;
use cubecl::prelude::KernelId;
use cubecl::server::{Handle, KernelArguments};
use cubecl::{CubeCount, CubeDim};

use std::sync::OnceLock;

use crate::config::{PadMode, SpectrogramConfig};
use crate::dsp::{MelSpectrogram, Spectrogram, Stft};
use crate::error::{Error, Result};

const WORKGROUP: u32 = 256;
/// Largest n_fft the radix-2 kernel holds in workgroup memory (16 KiB).
const MAX_RADIX2_FFT: usize = 4096;
/// wgpu's limit on workgroups per dispatch dimension.
const MAX_DISPATCH: usize = 65535;

/// Which of our kernels a [`SourceKernel`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kernel {
    StftPower,
    DftPower,
    MelProject,
    PowerToDb,
}

impl KernelSource for Kernel {
    fn source(&self) -> SourceTemplate {
        // WGSL has no includes: the framing kernels get the shared padding
        // and power functions appended (module-scope order does not matter).
        let frame_common = include_str!("../../kernels/frame_common.wgsl");
        match self {
            Kernel::StftPower => SourceTemplate::new(include_str!("../../kernels/stft_power.wgsl"))
                .add_template(frame_common),
            Kernel::DftPower => SourceTemplate::new(include_str!("../../kernels/dft_power.wgsl"))
                .add_template(frame_common),
            Kernel::MelProject => {
                SourceTemplate::new(include_str!("../../kernels/mel_project.wgsl"))
            }
            Kernel::PowerToDb => {
                SourceTemplate::new(include_str!("../../kernels/power_to_db.wgsl"))
            }
        }
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info(*self)
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// Which GPU API to ask Burn's wgpu runtime for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuApi {
    /// Whatever wgpu prefers on this machine.
    Auto,
    Vulkan,
}

/// Set (by `sweep run --devices`) to the index of the discrete GPU this
/// process uses; otherwise wgpu's default adapter.
pub const GPU_INDEX_VAR: &str = "SOUNDCLASS_GPU_INDEX";

/// The adapter this process asks wgpu for.
fn device_kind() -> Result<DeviceKind> {
    match std::env::var(GPU_INDEX_VAR) {
        Ok(index) => index
            .trim()
            .parse()
            .map(DeviceKind::DiscreteGpu)
            .map_err(|_| Error::Gpu(format!("{GPU_INDEX_VAR}={index}: not a GPU index"))),
        Err(_) => Ok(DeviceKind::DefaultDevice),
    }
}

/// Burn device of the wgpu runtime on `api`. The runtime is initialised
/// once per process and API; later calls return the same device.
pub fn wgpu_device(api: GpuApi) -> Result<Device> {
    static AUTO: OnceLock<std::result::Result<Device, String>> = OnceLock::new();
    static VULKAN: OnceLock<std::result::Result<Device, String>> = OnceLock::new();
    let (cell, backend) = match api {
        GpuApi::Auto => (&AUTO, WgpuBackend::Auto),
        GpuApi::Vulkan => (&VULKAN, WgpuBackend::Vulkan),
    };
    let kind = device_kind()?;
    cell.get_or_init(|| {
        match Device::wgpu_options()
            .device_kind(kind.clone())
            .graphics_api(backend)
            .init()
        {
            Ok(device) => Ok(device),
            // Burn's default device (e.g. while loading optimizer state)
            // got there first with default options: share that runtime.
            Err(e) if api == GpuApi::Auto && e.to_string().contains("already initialized") => {
                Ok(Device::wgpu(kind.clone()))
            }
            Err(e) => Err(format!("no wgpu device for {api:?}: {e}")),
        }
    })
    .clone()
    .map_err(Error::Gpu)
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn gpu_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Gpu(format!("{what}: {e}"))
}

/// The primitive behind a float tensor on the wgpu backend.
fn cube_tensor<const D: usize>(tensor: Tensor<D>) -> Result<CubeTensor> {
    tensor
        .try_into_primitive::<Wgpu>()
        .map_err(|e| gpu_error("tensor is not on a wgpu device", format!("{e:?}")))
}

/// A planned GPU log-Mel front end: constant tables live on the device,
/// built once, reused for every batch.
pub struct GpuMel {
    config: SpectrogramConfig,
    sample_rate: u32,
    device: Device,
    client: Client,
    cube_device: cubecl::Device,
    kernel: Kernel,
    /// The CPU plan's framing: one definition of the frame count.
    stft: Stft,
    n_bins: usize,
    n_mels: usize,
    window: Handle,
    twiddle: Handle,
    band_start: Handle,
    band_width: Handle,
    band_offset: Handle,
    weights: Handle,
}

impl std::fmt::Debug for GpuMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuMel")
            .field("kernel", &self.kernel)
            .field("n_fft", &self.config.n_fft)
            .field("n_mels", &self.n_mels)
            .finish()
    }
}

impl GpuMel {
    /// Plan the front end for `config` on `device` (a wgpu device).
    pub fn new(config: &SpectrogramConfig, sample_rate: u32, device: &Device) -> Result<Self> {
        // The CPU plan provides the exact window and filterbank the GPU uses.
        let cpu = MelSpectrogram::new(config, sample_rate);
        let n_fft = config.n_fft;
        let probe = cube_tensor(Tensor::<1>::zeros([1], device))?;
        let client = probe.client.clone();
        let cube_device = probe.device.clone();
        let radix2 = n_fft.is_power_of_two() && (4..=MAX_RADIX2_FFT).contains(&n_fft);
        let (kernel, twiddle_len) = if radix2 {
            (Kernel::StftPower, n_fft / 2)
        } else {
            (Kernel::DftPower, n_fft)
        };
        let twiddle: Vec<f32> = (0..twiddle_len)
            .flat_map(|k| {
                let phase = -2.0 * std::f64::consts::PI * k as f64 / n_fft as f64;
                [phase.cos() as f32, phase.sin() as f32]
            })
            .collect();
        let bank = cpu.bank();
        let mut offsets = Vec::with_capacity(bank.n_mels);
        let mut packed = Vec::new();
        for w in &bank.weights {
            offsets.push(packed.len() as u32);
            packed.extend_from_slice(w);
        }
        if packed.is_empty() {
            packed.push(0.0); // wgpu rejects zero-sized bindings
        }
        let widths: Vec<u32> = bank.weights.iter().map(|w| w.len() as u32).collect();
        let starts: Vec<u32> = bank.starts.iter().map(|&s| s as u32).collect();
        Ok(Self {
            config: config.clone(),
            sample_rate,
            device: device.clone(),
            window: client.create_from_slice(&f32_bytes(cpu.stft().window())),
            twiddle: client.create_from_slice(&f32_bytes(&twiddle)),
            band_start: client.create_from_slice(&u32_bytes(&starts)),
            band_width: client.create_from_slice(&u32_bytes(&widths)),
            band_offset: client.create_from_slice(&u32_bytes(&offsets)),
            weights: client.create_from_slice(&f32_bytes(&packed)),
            client,
            cube_device,
            kernel,
            stft: cpu.stft().clone(),
            n_bins: 1 + n_fft / 2,
            n_mels: config.n_mels,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Which spectrum kernel runs: `radix-2 FFT` or `direct DFT`.
    pub fn spectrum_kernel(&self) -> &'static str {
        match self.kernel {
            Kernel::StftPower => "radix-2 FFT",
            _ => "direct DFT",
        }
    }

    /// Frames for clips of `len` samples.
    pub fn n_frames(&self, len: usize) -> Result<usize> {
        self.stft.n_frames(len)
    }

    fn launch(&self, kernel: Kernel, count: CubeCount, buffers: Vec<Handle>) {
        let arguments = buffers
            .into_iter()
            .fold(KernelArguments::new(), |args, handle| {
                args.with_buffer(handle.binding())
            });
        self.client.launch(
            Box::new(SourceKernel::new(kernel, CubeDim::new_1d(WORKGROUP))),
            count,
            arguments,
        );
    }

    /// Mel spectrogram of a `[clips, samples]` waveform tensor on the GPU:
    /// `[clips, n_mels, frames]`, in dB when the config says so. Nothing
    /// leaves the device.
    pub fn forward(&self, waveforms: Tensor<2>) -> Result<Tensor<3>> {
        let [clips, len] = waveforms.dims();
        let frames = self.n_frames(len)?;
        let input = self.checked_input(waveforms, clips, frames)?;
        let spectrum = self.launch_spectrum(&input, clips, len, frames);
        let mel = self.launch_mel(spectrum, clips, frames);
        if self.config.to_db {
            self.launch_db(&mel, clips, frames);
        }
        let out = CubeTensor::new_contiguous(
            self.client.clone(),
            self.cube_device.clone(),
            Shape::new([clips, self.n_mels, frames]),
            mel,
            DType::F32,
        );
        Ok(Tensor::<3>::from_primitive::<Wgpu>(out))
    }

    /// The batch as the kernels read it (dense row-major f32), after the
    /// checks the dispatch needs.
    fn checked_input(
        &self,
        waveforms: Tensor<2>,
        clips: usize,
        frames: usize,
    ) -> Result<CubeTensor> {
        if clips == 0 {
            return Err(Error::InvalidArgument("empty batch".into()));
        }
        if frames > MAX_DISPATCH || clips > MAX_DISPATCH {
            return Err(Error::InvalidArgument(format!(
                "batch of {clips} clips x {frames} frames exceeds the GPU dispatch limit of {MAX_DISPATCH}"
            )));
        }
        let mut input = cube_tensor(waveforms)?;
        if !input.is_contiguous() {
            input = into_contiguous(input);
        }
        if input.dtype != DType::F32 {
            return Err(Error::InvalidArgument(format!(
                "waveforms must be f32, got {:?}",
                input.dtype
            )));
        }
        Ok(input)
    }

    /// The framed, windowed power spectrum: `[clips, frames, n_bins]`.
    fn launch_spectrum(
        &self,
        input: &CubeTensor,
        clips: usize,
        len: usize,
        frames: usize,
    ) -> Handle {
        let pad = if self.config.center {
            self.config.n_fft / 2
        } else {
            0
        } as u32;
        let pad_mode = match self.config.pad_mode {
            PadMode::Constant => 0u32,
            PadMode::Reflect => 1,
        };
        let half = (self.config.n_fft / 2).max(1) as u32;
        let spectrum_info: Vec<u8> = [
            u32_bytes(&[
                len as u32,
                frames as u32,
                self.config.hop_length as u32,
                pad,
                pad_mode,
                self.config.n_fft as u32,
                self.n_bins as u32,
                half.trailing_zeros(),
            ]),
            f32_bytes(&[self.config.power as f32]),
        ]
        .concat();
        let spectrum = self.client.empty(clips * frames * self.n_bins * 4);
        self.launch(
            self.kernel,
            CubeCount::Static(frames as u32, clips as u32, 1),
            vec![
                input.handle.clone(),
                self.window.clone(),
                self.twiddle.clone(),
                spectrum.clone(),
                self.client.create_from_slice(&spectrum_info),
            ],
        );
        spectrum
    }

    /// The Mel projection of the spectrum: `[clips, n_mels, frames]`.
    fn launch_mel(&self, spectrum: Handle, clips: usize, frames: usize) -> Handle {
        let per_clip = self.n_mels * frames;
        let mel = self.client.empty(clips * per_clip * 4);
        let mel_info = u32_bytes(&[frames as u32, self.n_bins as u32, self.n_mels as u32]);
        self.launch(
            Kernel::MelProject,
            CubeCount::Static(
                per_clip.div_ceil(WORKGROUP as usize) as u32,
                clips as u32,
                1,
            ),
            vec![
                spectrum,
                self.band_start.clone(),
                self.band_width.clone(),
                self.band_offset.clone(),
                self.weights.clone(),
                mel.clone(),
                self.client.create_from_slice(&mel_info),
            ],
        );
        mel
    }

    /// Power to dB in place, one workgroup per clip (its own peak when the
    /// reference is `max`).
    fn launch_db(&self, mel: &Handle, clips: usize, frames: usize) {
        let per_clip = self.n_mels * frames;
        let db_info = [
            u32_bytes(&[
                per_clip as u32,
                self.config.db_ref.is_none() as u32,
                self.config.top_db.is_some() as u32,
            ]),
            f32_bytes(&[
                self.config.db_ref.unwrap_or(1.0) as f32,
                self.config.amin as f32,
                self.config.top_db.unwrap_or(0.0) as f32,
            ]),
        ]
        .concat();
        self.launch(
            Kernel::PowerToDb,
            CubeCount::Static(clips as u32, 1, 1),
            vec![mel.clone(), self.client.create_from_slice(&db_info)],
        );
    }

    /// Upload equal-length clips, run [`forward`](Self::forward), download.
    pub fn compute_host<S: AsRef<[f32]>>(&self, clips: &[S]) -> Result<Vec<Spectrogram>> {
        let Some(first) = clips.first() else {
            return Ok(Vec::new());
        };
        let len = first.as_ref().len();
        if clips.iter().any(|c| c.as_ref().len() != len) {
            return Err(Error::InvalidArgument(
                "GPU batches need clips of one length".into(),
            ));
        }
        let flat: Vec<f32> = clips
            .iter()
            .flat_map(|c| c.as_ref().iter().copied())
            .collect();
        let waveforms =
            Tensor::<2>::from_data(TensorData::new(flat, [clips.len(), len]), &self.device);
        let out = self.forward(waveforms)?;
        let [_, n_mels, frames] = out.dims();
        let data: Vec<f32> = out
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| gpu_error("reading spectrograms back", format!("{e:?}")))?;
        Ok(data
            .chunks_exact(n_mels * frames)
            .map(|c| Spectrogram {
                n_mels,
                frames,
                data: c.to_vec(),
            })
            .collect())
    }

    pub fn config_n_fft(&self) -> usize {
        self.config.n_fft
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }
}
