//! The one definition of how the plan's types map onto the WIT records, both ways.
//!
//! The guest (wit-bindgen) and the host (wasmtime's bindgen) each generate their own Rust
//! types for `wit/engine.wit`, with the same names and fields. The `From` impls must live in
//! the crate that owns those generated types, so each side invokes [`wit_conversions!`] once
//! and gets the same conversions from this one table; a field or op added to the plan without
//! its WIT counterpart fails to compile on both sides.

/// Implements `From` both ways between the plan's types and a side's generated WIT types.
///
/// `compute` and `runtime` name modules in scope that hold the generated `compute` interface
/// (`Weight`, `Rope`, `Attention`, `Pooling`, `Op`, `KvSpec`, `PlanSpec`) and the `runtime`
/// interface (`Batch`, `Candidates`). A WIT batch is the plan batch plus the id of the plan it
/// runs on, so it converts to and from `(u32, Batch)`.
///
/// ```ignore
/// mod lowering {
///     use crate::bindings::wollama::engine::compute;
///     use crate::bindings::exports::wollama::engine::runtime;
///     wollama_plan::wit_conversions!(compute, runtime);
/// }
/// ```
#[macro_export]
macro_rules! wit_conversions {
    ($compute:ident, $runtime:ident) => {
        $crate::wit_records! {
            $compute::Weight = $crate::Weight { name, ggml_type, shape, offset },
            $compute::Rope = $crate::Rope { x, head_dim, n_rot, freq_base, freq_scale, neox },
            $compute::Attention = $crate::Attention { q, k, v, layer, n_head, n_kv_head, head_dim, scale, softcap, window },
            $compute::KvSpec = $crate::KvSpec { cells, widths },
            $compute::PlanSpec = $crate::PlanSpec { logits, hidden, kv, max_rows; each: weights, nodes },
            $runtime::Candidates = $crate::Candidates { ids, logits },
        }

        impl From<$compute::Pooling> for $crate::Pooling {
            fn from(p: $compute::Pooling) -> Self {
                match p {
                    $compute::Pooling::Mean => $crate::Pooling::Mean,
                    $compute::Pooling::Cls => $crate::Pooling::Cls,
                    $compute::Pooling::Last => $crate::Pooling::Last,
                }
            }
        }

        impl From<$crate::Pooling> for $compute::Pooling {
            fn from(p: $crate::Pooling) -> Self {
                match p {
                    $crate::Pooling::Mean => $compute::Pooling::Mean,
                    $crate::Pooling::Cls => $compute::Pooling::Cls,
                    $crate::Pooling::Last => $compute::Pooling::Last,
                }
            }
        }

        // Plan op name / WIT case name (arguments): the WIT carries several arguments as one
        // tuple, the plan as a tuple variant.
        $crate::wit_ops! { $compute::Op;
            one: Embed / Embed (w), Gelu / Gelu (x), Rope / Rope (r), Attention / Attention (a),
                SelectRows / SelectRows (x), EmbedPositions / EmbedPositions (w),
                EncoderAttention / EncoderAttention (a), GeluErf / GeluErf (x);
            many: Matmul / Matmul (x, w), RmsNorm / RmsNorm (x, eps, group), LayerNorm / LayerNorm (x, eps),
                MulWeight / MulWeight (x, w), AddWeight / AddWeight (x, w), Add / Add (a, b), Mul / Mul (a, b),
                Scale / Scale (x, s), SwiGlu / Swiglu (a, b), GeGlu / Geglu (a, b), Softcap / Softcap (x, c),
                Pool / Pool (x, p);
        }

        impl From<$runtime::Batch> for (u32, $crate::Batch) {
            fn from(b: $runtime::Batch) -> Self {
                let plan = b.plan;
                (plan, $crate::wit_batch!(b, $crate::Batch {}))
            }
        }

        impl From<(u32, $crate::Batch)> for $runtime::Batch {
            fn from((plan, b): (u32, $crate::Batch)) -> Self {
                $crate::wit_batch!(b, $runtime::Batch { plan })
            }
        }
    };
}

/// Records whose fields have the same names on both sides: each field converts with `Into`,
/// and the lists after `each:` element by element.
#[doc(hidden)]
#[macro_export]
macro_rules! wit_records {
    ($($wit:path = $plan:path { $($field:ident),* $(; each: $($list:ident),*)? }),* $(,)?) => {
        $(
            impl From<$wit> for $plan {
                fn from(r: $wit) -> Self {
                    Self {
                        $($field: r.$field.into(),)*
                        $($($list: r.$list.into_iter().map(Into::into).collect(),)*)?
                    }
                }
            }

            impl From<$plan> for $wit {
                fn from(r: $plan) -> Self {
                    Self {
                        $($field: r.$field.into(),)*
                        $($($list: r.$list.into_iter().map(Into::into).collect(),)*)?
                    }
                }
            }
        )*
    };
}

/// The op variants, both ways, from one list.
#[doc(hidden)]
#[macro_export]
macro_rules! wit_ops {
    ($wit:path; one: $($p1:ident / $w1:ident ($a1:ident)),* ; many: $($pn:ident / $wn:ident ($($an:ident),+)),* ;) => {
        impl From<$wit> for $crate::Op {
            fn from(op: $wit) -> Self {
                use $wit as W;
                match op {
                    $(W::$w1($a1) => $crate::Op::$p1($a1.into()),)*
                    $(W::$wn(($($an),+)) => $crate::Op::$pn($($an.into()),+),)*
                }
            }
        }

        impl From<$crate::Op> for $wit {
            fn from(op: $crate::Op) -> Self {
                use $wit as W;
                match op {
                    $($crate::Op::$p1($a1) => W::$w1($a1.into()),)*
                    $($crate::Op::$pn($($an),+) => W::$wn(($($an.into()),+)),)*
                }
            }
        }
    };
}

/// A batch's fields, moved from `$b` into a `$ty { extra fields, ... }`.
#[doc(hidden)]
#[macro_export]
macro_rules! wit_batch {
    ($b:ident, $ty:path { $($extra:ident),* }) => {{
        // A path fragment cannot name a struct literal; an alias can.
        type Target = $ty;
        Target {
            $($extra,)*
            tokens: $b.tokens,
            positions: $b.positions,
            seqs: $b.seqs,
            write_cells: $b.write_cells,
            cell_pos: $b.cell_pos,
            cell_seqs: $b.cell_seqs,
            copies: $b.copies,
            logit_rows: $b.logit_rows,
            bias: $b.bias,
            top_k: $b.top_k,
            hidden_rows: $b.hidden_rows,
        }
    }};
}
