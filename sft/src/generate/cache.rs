//! The per-sequence key/value cache: one preallocated `(kv_heads, capacity, head_dim)`
//! buffer per layer for keys and one for values, written in place as tokens arrive
//! and read back as a narrowed view (no concatenation, no copy per step). It grows
//! by doubling when a sequence outlives its capacity.

use crate::error::{Result, SftError};
use candle_core::{DType, Device, Tensor};

/// The keys and values of one layer.
#[derive(Debug, Clone)]
struct LayerCache {
    /// `(kv_heads, capacity, head_dim)`.
    k: Tensor,
    /// `(kv_heads, capacity, head_dim)`.
    v: Tensor,
}

/// The attention state of one sequence being generated. Each concurrent generation
/// owns one; the model itself stays immutable.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    kv_heads: usize,
    head_dim: usize,
    capacity: usize,
    len: usize,
    device: Device,
}

impl KvCache {
    /// An empty cache for `layers` layers with room for `capacity` tokens before it
    /// has to grow.
    pub fn new(
        layers: usize,
        kv_heads: usize,
        head_dim: usize,
        capacity: usize,
        device: &Device,
    ) -> Result<Self> {
        let capacity = capacity.max(1);
        let mut out = Vec::with_capacity(layers);
        for _ in 0..layers {
            out.push(LayerCache {
                k: Tensor::zeros((kv_heads, capacity, head_dim), DType::F32, device)?,
                v: Tensor::zeros((kv_heads, capacity, head_dim), DType::F32, device)?,
            });
        }
        Ok(KvCache {
            layers: out,
            kv_heads,
            head_dim,
            capacity,
            len: 0,
            device: device.clone(),
        })
    }

    /// Tokens cached so far (the position of the next token).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Tokens the buffers hold before they grow.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every cached token (the buffers are kept for reuse).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Makes room for `extra` more tokens, doubling the buffers if needed.
    pub(crate) fn reserve(&mut self, extra: usize) -> Result<()> {
        let need = self.len + extra;
        if need <= self.capacity {
            return Ok(());
        }
        let capacity = need.max(self.capacity * 2);
        for layer in &mut self.layers {
            for buf in [&mut layer.k, &mut layer.v] {
                let bigger = Tensor::zeros(
                    (self.kv_heads, capacity, self.head_dim),
                    DType::F32,
                    &self.device,
                )?;
                if self.len > 0 {
                    let old = buf.narrow(1, 0, self.len)?.contiguous()?;
                    bigger.slice_set(&old, 1, 0)?;
                }
                *buf = bigger;
            }
        }
        self.capacity = capacity;
        Ok(())
    }

    /// Writes `k`, `v` `(kv_heads, seq, head_dim)` of `layer` at the current position
    /// and returns every key and value so far, `(kv_heads, len + seq, head_dim)`
    /// views of the buffers. [`KvCache::reserve`] must have made room.
    pub(crate) fn append(&self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let l = self.layers.get(layer).ok_or_else(|| {
            SftError::InvalidArgument(format!("the KV cache has no layer {layer}"))
        })?;
        let seq = k.dim(1)?;
        if self.len + seq > self.capacity {
            return Err(SftError::InvalidArgument(format!(
                "KV cache overflow: {} + {seq} tokens > capacity {}",
                self.len, self.capacity
            )));
        }
        l.k.slice_set(&k.contiguous()?, 1, self.len)?;
        l.v.slice_set(&v.contiguous()?, 1, self.len)?;
        let total = self.len + seq;
        Ok((l.k.narrow(1, 0, total)?, l.v.narrow(1, 0, total)?))
    }

    /// Marks `seq` more tokens as cached (after every layer appended them).
    pub(crate) fn advance(&mut self, seq: usize) {
        self.len += seq;
    }
}
