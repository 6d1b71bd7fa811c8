//! GGUF (v2 and v3) metadata and tensor index, read through a byte source so that the weights
//! themselves never enter guest memory. Every length read from the file is bounded by the file
//! size before anything is allocated: a truncated or corrupt file is an error, never a panic.

use std::collections::BTreeMap;
use std::fmt;

use wollama_plan::GgmlType;

/// Where the bytes come from: the host's model file in the component, a file in native tests.
pub trait ByteSource {
    fn size(&self) -> u64;
    /// Bytes [offset, offset + len); shorter only at the end of the file.
    fn read(&self, offset: u64, len: u32) -> std::result::Result<Vec<u8>, String>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum GgufError {
    Io(String),
    Invalid(String),
}

impl fmt::Display for GgufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GgufError::Io(m) => write!(f, "reading the model file failed: {m}"),
            GgufError::Invalid(m) => write!(f, "invalid GGUF file: {m}"),
        }
    }
}

type Result<T> = std::result::Result<T, GgufError>;

fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(GgufError::Invalid(msg.into()))
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
    Array(Array),
}

/// Arrays keep their element kind so that tokenizer tables stay compact.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Bools(Vec<bool>),
    Strs(Vec<String>),
    /// Arrays of arrays: kept only as a count (no model key needs their contents).
    Nested(u64),
}

impl Array {
    pub fn len(&self) -> u64 {
        match self {
            Array::Ints(v) => v.len() as u64,
            Array::Floats(v) => v.len() as u64,
            Array::Bools(v) => v.len() as u64,
            Array::Strs(v) => v.len() as u64,
            Array::Nested(n) => *n,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Array::Ints(_) => "int",
            Array::Floats(_) => "float",
            Array::Bools(_) => "bool",
            Array::Strs(_) => "string",
            Array::Nested(_) => "array",
        }
    }
}

/// The ggml type's name (`/api/show`, errors); "type N" for an id the table does not know.
pub fn type_name(ggml_type: u32) -> String {
    GgmlType::from_u32(ggml_type).map(|t| t.name.to_string()).unwrap_or_else(|| format!("type {ggml_type}"))
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: dims[0] is the contiguous row length.
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    /// Absolute offset of the data in the file.
    pub offset: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

#[derive(Debug, Clone)]
pub struct Gguf {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    pub data_offset: u64,
}

/// A buffered forward reader over a byte source.
struct Cursor<'a, S: ByteSource + ?Sized> {
    src: &'a S,
    size: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

const CHUNK: u32 = 1 << 20;
/// No key, string or array in a sane GGUF comes near these.
const MAX_STRING: u64 = 64 << 20;
const MAX_DIMS: u32 = 8;

impl<'a, S: ByteSource + ?Sized> Cursor<'a, S> {
    fn new(src: &'a S) -> Self {
        Cursor { src, size: src.size(), pos: 0, buf: Vec::new(), buf_start: 0 }
    }

    fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.pos)
    }

    fn bytes(&mut self, n: u64, what: &str) -> Result<Vec<u8>> {
        if n > self.remaining() {
            return invalid(format!(
                "truncated: {what} needs {n} bytes at offset {} but the file has {} left",
                self.pos,
                self.remaining()
            ));
        }
        let mut out = Vec::with_capacity(n as usize);
        while (out.len() as u64) < n {
            let buf_end = self.buf_start + self.buf.len() as u64;
            if self.pos >= self.buf_start && self.pos < buf_end {
                let from = (self.pos - self.buf_start) as usize;
                let take = ((n - out.len() as u64) as usize).min(self.buf.len() - from);
                out.extend_from_slice(&self.buf[from..from + take]);
                self.pos += take as u64;
            } else {
                let want = CHUNK.min(self.remaining().min(u32::MAX as u64) as u32);
                let chunk = self.src.read(self.pos, want).map_err(GgufError::Io)?;
                if chunk.is_empty() {
                    return invalid(format!("truncated: no bytes at offset {}", self.pos));
                }
                self.buf = chunk;
                self.buf_start = self.pos;
            }
        }
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let v = self.bytes(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&v);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>("u8")?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array("u16")?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array("u32")?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array("u64")?))
    }
    fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array("f32")?))
    }
    fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array("f64")?))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.u64()?;
        if n > MAX_STRING {
            return invalid(format!("{what}: string length {n} is implausible"));
        }
        let b = self.bytes(n, what)?;
        // Tokenizer tables may hold byte sequences that are not UTF-8; keep them lossily.
        Ok(match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Bounds an element count by the bytes left, so a corrupt count cannot allocate wildly.
    fn count(&mut self, min_elem_bytes: u64, what: &str) -> Result<u64> {
        let n = self.u64()?;
        if n.saturating_mul(min_elem_bytes) > self.remaining() {
            return invalid(format!("truncated or corrupt: {what} {n} exceeds the file"));
        }
        Ok(n)
    }

    fn value(&mut self, ty: u32, key: &str) -> Result<Value> {
        Ok(match ty {
            0 => Value::U64(self.u8()? as u64),
            1 => Value::I64(self.u8()? as i8 as i64),
            2 => Value::U64(self.u16()? as u64),
            3 => Value::I64(self.u16()? as i16 as i64),
            4 => Value::U64(self.u32()? as u64),
            5 => Value::I64(self.u32()? as i32 as i64),
            6 => Value::F64(self.f32()? as f64),
            7 => Value::Bool(self.u8()? != 0),
            8 => Value::Str(self.string(key)?),
            9 => Value::Array(self.array_value(key)?),
            10 => Value::U64(self.u64()?),
            11 => Value::I64(self.u64()? as i64),
            12 => Value::F64(self.f64()?),
            t => return invalid(format!("metadata key {key:?} has unknown value type {t}")),
        })
    }

    fn array_value(&mut self, key: &str) -> Result<Array> {
        let ty = self.u32()?;
        let elem = match ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8..=12 => 8,
            t => return invalid(format!("metadata key {key:?} has unknown array type {t}")),
        };
        let n = self.count(elem, key)?;
        Ok(match ty {
            8 => {
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(self.string(key)?);
                }
                Array::Strs(v)
            }
            7 => {
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(self.u8()? != 0);
                }
                Array::Bools(v)
            }
            6 | 12 => {
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(if ty == 6 { self.f32()? as f64 } else { self.f64()? });
                }
                Array::Floats(v)
            }
            9 => {
                for _ in 0..n {
                    self.array_value(key)?;
                }
                Array::Nested(n)
            }
            _ => {
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(match self.value(ty, key)? {
                        Value::U64(x) => x as i64,
                        Value::I64(x) => x,
                        _ => unreachable!("integer types decode to integers"),
                    });
                }
                Array::Ints(v)
            }
        })
    }
}

impl Gguf {
    pub fn parse<S: ByteSource + ?Sized>(src: &S) -> Result<Gguf> {
        let mut c = Cursor::new(src);
        let magic = c.array::<4>("magic")?;
        if &magic != b"GGUF" {
            return invalid(format!("bad magic {magic:02x?}: not a GGUF file"));
        }
        let version = c.u32()?;
        if version == 1 {
            return invalid("GGUF version 1 is not supported (re-convert the model)");
        }
        if version != 2 && version != 3 {
            return invalid(format!("unsupported GGUF version {version} (big-endian or future)"));
        }
        // Each tensor info is at least 8+4+8+4+8 bytes; each kv at least 8+4+1.
        let n_tensors = c.count(32, "tensor count")?;
        let n_kv = c.count(13, "metadata count")?;

        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = c.string("metadata key")?;
            let ty = c.u32()?;
            let value = c.value(ty, &key)?;
            metadata.insert(key, value);
        }

        let mut tensors = Vec::with_capacity(n_tensors as usize);
        for _ in 0..n_tensors {
            let name = c.string("tensor name")?;
            let n_dims = c.u32()?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return invalid(format!("tensor {name:?} has {n_dims} dimensions"));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64()?);
            }
            let ggml_type = c.u32()?;
            let offset = c.u64()?;
            tensors.push((name, dims, ggml_type, offset));
        }

        let alignment = match metadata.get("general.alignment") {
            Some(Value::U64(a)) if *a > 0 && a.is_power_of_two() => *a,
            Some(other) => return invalid(format!("general.alignment {other:?} is not a power of two")),
            None => 32,
        };
        let data_offset = c.pos.div_ceil(alignment) * alignment;
        let size = src.size();

        let mut infos = Vec::with_capacity(tensors.len());
        for (name, dims, ggml_type, rel) in tensors {
            let Some(GgmlType { name: type_name, block_size: block, block_bytes, .. }) = GgmlType::from_u32(ggml_type) else {
                return invalid(format!("tensor {name:?} has unknown ggml type {ggml_type}"));
            };
            let n = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            let Some(n) = n else {
                return invalid(format!("tensor {name:?} has an overflowing shape {dims:?}"));
            };
            if dims[0] % block != 0 {
                return invalid(format!(
                    "tensor {name:?}: row length {} is not a multiple of the {type_name} block size {block}",
                    dims[0]
                ));
            }
            let n_bytes = n / block * block_bytes;
            let offset = data_offset.checked_add(rel);
            match offset {
                Some(off) if off.checked_add(n_bytes).is_some_and(|end| end <= size) => {
                    infos.push(TensorInfo { name, dims, ggml_type, offset: off, n_bytes })
                }
                _ => {
                    return invalid(format!(
                        "truncated: tensor {name:?} ({n_bytes} bytes at data offset {rel}) lies past the end of the file ({size} bytes)"
                    ))
                }
            }
        }
        Ok(Gguf { version, metadata, tensors: infos, data_offset })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn u64(&self, key: &str) -> Option<u64> {
        match self.get(key) {
            Some(Value::U64(v)) => Some(*v),
            Some(Value::I64(v)) if *v >= 0 => Some(*v as u64),
            _ => None,
        }
    }

    pub fn f64(&self, key: &str) -> Option<f64> {
        match self.get(key) {
            Some(Value::F64(v)) => Some(*v),
            Some(Value::U64(v)) => Some(*v as f64),
            Some(Value::I64(v)) => Some(*v as f64),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub fn strs(&self, key: &str) -> Option<&[String]> {
        match self.get(key) {
            Some(Value::Array(Array::Strs(v))) => Some(v),
            _ => None,
        }
    }

    pub fn ints(&self, key: &str) -> Option<&[i64]> {
        match self.get(key) {
            Some(Value::Array(Array::Ints(v))) => Some(v),
            _ => None,
        }
    }

    pub fn floats(&self, key: &str) -> Option<&[f64]> {
        match self.get(key) {
            Some(Value::Array(Array::Floats(v))) => Some(v),
            _ => None,
        }
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    pub fn architecture(&self) -> Result<&str> {
        self.str("general.architecture")
            .map(Ok)
            .unwrap_or_else(|| invalid("general.architecture is missing"))
    }
}

/// A byte source over a whole file held in memory (tests, and hosts that preload headers).
impl ByteSource for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read(&self, offset: u64, len: u32) -> std::result::Result<Vec<u8>, String> {
        let start = (offset as usize).min(self.len());
        let end = start.saturating_add(len as usize).min(self.len());
        Ok(self[start..end].to_vec())
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub mod native {
    //! Reading a GGUF from disk, for native tests and tools.
    use super::ByteSource;
    use std::fs::File;
    use std::os::unix::fs::FileExt;

    pub struct FileSource(pub File);

    impl ByteSource for FileSource {
        fn size(&self) -> u64 {
            self.0.metadata().map(|m| m.len()).unwrap_or(0)
        }
        fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, String> {
            let mut buf = vec![0u8; len as usize];
            let mut done = 0;
            while done < buf.len() {
                match self.0.read_at(&mut buf[done..], offset + done as u64) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(e) => return Err(e.to_string()),
                }
            }
            buf.truncate(done);
            Ok(buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal well-formed GGUF built in memory.
    fn tiny() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes()); // tensors
        b.extend_from_slice(&2u64.to_le_bytes()); // kv
        let s = |b: &mut Vec<u8>, s: &str| {
            b.extend_from_slice(&(s.len() as u64).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        };
        s(&mut b, "general.architecture");
        b.extend_from_slice(&8u32.to_le_bytes());
        s(&mut b, "llama");
        s(&mut b, "tokenizer.ggml.tokens");
        b.extend_from_slice(&9u32.to_le_bytes());
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&2u64.to_le_bytes());
        s(&mut b, "a");
        s(&mut b, "b");
        s(&mut b, "w");
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&4u64.to_le_bytes());
        b.extend_from_slice(&2u64.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes()); // F32
        b.extend_from_slice(&0u64.to_le_bytes());
        while b.len() % 32 != 0 {
            b.push(0);
        }
        b.extend(std::iter::repeat_n(0u8, 32));
        b
    }

    #[test]
    fn parses_a_well_formed_file() {
        let f = tiny();
        let g = Gguf::parse(f.as_slice()).unwrap();
        assert_eq!(g.architecture().unwrap(), "llama");
        assert_eq!(g.strs("tokenizer.ggml.tokens").unwrap(), &["a".to_string(), "b".to_string()]);
        assert_eq!(g.tensors[0].dims, vec![4, 2]);
        assert_eq!(g.tensors[0].n_bytes, 32);
        assert_eq!(g.tensors[0].offset % 32, 0);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let f = tiny();
        for cut in 0..f.len() {
            let r = Gguf::parse(&f[..cut]);
            assert!(r.is_err(), "a file cut at {cut} bytes parsed");
        }
    }

    #[test]
    fn corrupt_counts_and_magic_are_clear_errors() {
        let mut f = tiny();
        f[0] = b'X';
        assert!(Gguf::parse(f.as_slice()).unwrap_err().to_string().contains("not a GGUF"));
        let mut f = tiny();
        f[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Gguf::parse(f.as_slice()).unwrap_err().to_string().contains("exceeds the file"));
        let mut f = tiny();
        f[4..8].copy_from_slice(&7u32.to_le_bytes());
        assert!(Gguf::parse(f.as_slice()).unwrap_err().to_string().contains("version 7"));
        // Every single-byte corruption parses or fails cleanly.
        let base = tiny();
        for i in 0..base.len() {
            for v in [0u8, 0xff, 0x7f] {
                let mut f = base.clone();
                f[i] = v;
                let _ = Gguf::parse(f.as_slice());
            }
        }
    }
}
