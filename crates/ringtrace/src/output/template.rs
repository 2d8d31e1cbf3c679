//! Runtime interpreter for `std::fmt` format strings: [`Template`].
//!
//! Whoever renders a record after the fact — the live drain's text and JSON sinks, and the
//! offline tools (the trace-file decoder) alike — has a callsite's format *string* and the
//! decoded [`Value`]s, but not the `format_args!` the program compiled: the recording thread
//! never formats. A [`Template`] is that format string parsed once at run time; [`Template::render`] then produces, for every spec that
//! `format!` accepts (named arguments aside), output byte-identical to what `format!` would
//! have produced with the original typed arguments.
//!
//! # Parsing
//!
//! The parser mirrors rustc's own (`rustc_parse_format`) character by character, so it accepts
//! and rejects the same strings and assigns implicit positions the same way:
//!
//! ```text
//! format_spec := [[fill]align][sign]['#']['0'][width]['.' precision][type]
//! ```
//!
//! * whitespace is allowed after the position (`{ }`, `{0 }`, `{ :x}`) and before the closing
//!   brace (`{:x }`), nowhere else;
//! * any character, `{` and `}` included, is a fill when the next one is `<`, `^` or `>`;
//! * `0$` is a width taken from argument 0, not the `0` flag;
//! * widths, precisions and positions are `u16` literals, as in rustc;
//! * `.` with nothing after it means "no precision";
//! * the implicit argument counter advances once for `.*` (the precision) *before* it advances
//!   for the value, and only the value of an argument with no explicit position consumes it:
//!   `"{} {2:.*}"` takes its precision from argument 1, exactly as the `std::fmt` docs say.
//!
//! Named arguments (`{name}`, implicit captures) and named counts (`{:w$}`, `{:.p$}`) cannot be
//! resolved from positional [`Value`]s, and `{:p}` would print an address that no longer
//! exists: [`Template::parse`] rejects them, [`Template::parse_lossy`] keeps them (and anything
//! malformed) as literal text.
//!
//! # Rendering
//!
//! Stable Rust cannot build a `Formatter` at run time, so rendering splits the work:
//!
//! 1. The *body* of a number is produced by std itself, through one of a finite set of literal
//!    specs generated with `macro_rules!` and `concat!`: every combination of trait × `+` ×
//!    `#` × (`0` flag with a width) × precision, with the width and precision passed at run
//!    time as `w$`/`p$`. Fill and alignment never reach std, since a fill is an arbitrary char
//!    that would need a literal of its own.
//! 2. Fill, alignment and width are then applied here, the way `Formatter::padding` does it:
//!    the padding counts `char`s, centring puts `pad / 2` before and `(pad + 1) / 2` after,
//!    numbers default to right alignment and everything else to left.
//!
//! What each value kind does with a spec, as checked against `format!` on this toolchain (the
//! tests compare thousands of specs per kind, each for several widths and precisions given as
//! literals and as arguments):
//!
//! | value | traits | width, fill, align | precision | `+`, `#`, `0` |
//! |---|---|---|---|---|
//! | integers | all ten | padded, right by default | used by `e`/`E` only | std's own (`#` adds `0x`…); with `0` and a width std pads sign-aware with zeros and ignores fill and align, so that case goes to std with the width |
//! | floats | `{}` `?` `x?` `X?` `e` `E` | as integers | std's own | as integers (`NaN` and `inf` are zero padded too) |
//! | `str`, `char` with `{}`; `bool` with `{}` `?` `x?` `X?` | those | padded, left by default | maximum number of chars kept | ignored (`0` included: the fill stays as given) |
//! | `str`, `char` with `?` `x?` `X?` | those | **ignored**: quoted and escaped, never padded | ignored | ignored |
//! | `&[u8]` | `?` `x?` `X?` | applied to **each element** (a `u8`), the list itself is never padded | ignored by the `u8`s | per element; `#` also pretty-prints the list, indented like std's `PadAdapter` does (even when the fill is `'\n'`) |
//! | captured `Display`/`Debug` text, `Error`, `Invalid` | all ten | ignored: verbatim, as [`Value`]'s own impls | ignored | ignored |
//!
//! Strings and chars shown with `{}` and booleans are padded here directly; the `?` of strings
//! and chars and every number go through std. Padding on the left is inserted in front of a
//! body already written to the output, in chunks, so a render allocates nothing beyond growing
//! the output `String`.
//!
//! # Where the output differs from `format!`
//!
//! Only where `format!` would not have compiled or would have panicked:
//!
//! * a missing argument, or a trait the value does not implement (`{:x}` of a string, `{}` of
//!   bytes), renders as `{?}`;
//! * a width or precision taken from an argument (`{:1$}`, `{:.1$}`, `{:.*}`) must be an
//!   unsigned integer (`format!` wants a `usize`; any of `U8`..`U128` is accepted here). One
//!   that is missing, of another kind or larger than `u16::MAX` (where `format!` panics with
//!   "Formatting argument out of range") is ignored, as if the spec had no width or precision.
//!
//! Parse errors and lossy literals are an addition of this module: `format!` rejects such
//! strings at compile time.
//!
//! # Length limit
//!
//! A template from a trace file is data, and a short one can ask for a lot: `"{0:65535}"`
//! repeated 7000 times is 458 MB of padding for one 24-byte record. [`Template::render`]
//! therefore stops at [`Template::MAX_LEN`] (1 MiB) bytes: it checks after each piece (each
//! literal, each argument, each element of a byte slice) and cuts the output back to the limit
//! at a `char` boundary, returning `true` when it did. One piece adds at most a width's worth of
//! fill (65535 chars) plus its value, so rendering never holds much more than the limit.
//! Rendering a record with sane widths is never near it (a record holds at most 64 KiB of
//! values, and even `{:#?}` of that many bytes is under 600 KiB), so such output is
//! byte-identical to `format!`'s.

use std::fmt::{self, Write as _};

use crate::output::numfmt::{push_f32, push_f64, push_i64, push_int, push_number, push_u64, put};
use crate::wire::value::{decode_value, Value};

/// What a value renders as when it is missing or does not support the requested trait.
const UNSUPPORTED: &str = "{?}";

/// 64 spaces: the padding chunk for the default fill.
const SPACES: &str = "                                                                ";

/// A parsed format string. Parse once per callsite, render many times.
///
/// Interprets Rust's `std::fmt` syntax at run time: `{{`/`}}`, `{}`, `{0}`, every trait
/// (`?`, `x?`, `X?`, `x`, `X`, `o`, `b`, `e`, `E`), fill and alignment (any char as fill), `+`,
/// `-`, `#`, `0`, widths and precisions as literals, `N$` or `.*`, with rustc's implicit
/// argument counter. Named arguments and `{:p}` are not supported. For every supported spec,
/// [`Template::render`] writes exactly what `format!` writes for the original typed argument
/// (a [`Value`] keeps the argument's exact type); where `format!` would not have compiled or
/// would have panicked, it writes `{?}` for the argument or ignores the bad count instead.
///
/// ```
/// use ringtrace::{Template, Value};
///
/// let t = Template::parse("order {} filled at {:>8.2} qty {:#x}").unwrap();
/// assert_eq!(t.arg_count(), 3);
/// let mut out = String::new();
/// t.render(&[Value::Str("A1"), Value::F64(101.255), Value::U32(4096)], &mut out);
/// assert_eq!(out, format!("order {} filled at {:>8.2} qty {:#x}", "A1", 101.255, 4096u32));
///
/// // A missing argument or an unsupported trait shows as `{?}`; nothing panics.
/// let t = Template::parse_lossy("{:x} {} {name}");
/// out.clear();
/// t.render(&[Value::Str("s")], &mut out);
/// assert_eq!(out, "{?} {?} {name}");
/// ```
#[derive(Debug, Clone)]
pub struct Template {
    /// Literal text and arguments, in order; adjacent literal text is merged.
    pieces: Vec<Piece>,
    /// Highest argument index referenced, plus one.
    arg_count: usize,
    /// What is known about the pieces at parse time (see [`Shape`]).
    shape: Shape,
}

/// Facts about a template, established once when it is parsed, that let a render take a
/// shorter path.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    /// The `k`th `{…}` formats value `k` and no width or precision is taken from a value: the
    /// values can be decoded one at a time as the pieces are rendered
    /// ([`Template::render_seq`]), no table of them is needed.
    sequential: bool,
    /// Every `{…}` is a plain `{}` (`Display`, no flag, width or precision), rendered without
    /// `core::fmt`.
    plain: bool,
    /// Some literal text holds a byte that a JSON string must escape.
    lit_needs_escape: bool,
    /// The longest a sequential, plain render can be besides the values' own encoded bytes:
    /// the literal text plus [`PLAIN_VALUE_MAX`] per `{}`.
    plain_bound: usize,
}

/// The most a plain `{}` of one value writes beyond the value's encoded bytes: 327 bytes for
/// an `f64` (`-0.000…05` with 323 zeros; `f64::MAX` has 309 digits), less for everything else
/// (text writes at most its own bytes).
const PLAIN_VALUE_MAX: usize = 330;

/// Why a format string was rejected by [`Template::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset in the format string where the problem was found.
    pub offset: usize,
    /// What is wrong there.
    pub reason: &'static str,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid format string at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for TemplateError {}

/// One piece of a template.
#[derive(Debug, Clone)]
enum Piece {
    /// Text copied as is (escapes already resolved).
    Lit(Box<str>),
    /// An argument to format.
    Arg(Spec),
}

/// A fully resolved `{...}`: positions are indices, never implicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spec {
    /// Index of the value.
    arg: usize,
    /// Fill character (`' '` unless given).
    fill: char,
    /// Requested alignment.
    align: Align,
    /// The `+` flag (`-` is accepted and, as in std, has no effect).
    plus: bool,
    /// The `#` flag.
    alternate: bool,
    /// The `0` flag.
    zero: bool,
    /// Minimum width.
    width: Count,
    /// Precision.
    precision: Count,
    /// Formatting trait.
    ty: Trait,
    /// A plain `{}`: `Display` without flags, width or precision (fill and alignment then do
    /// nothing). Set by the parser once the spec is complete.
    plain: bool,
}

/// Alignment as written in the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
    Center,
    /// Not given: right for numbers, left for everything else.
    Unknown,
}

/// A width or a precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    /// Not given.
    Implied,
    /// A literal.
    Is(u16),
    /// Taken from the argument at this index (`N$` or `.*`).
    Arg(usize),
}

/// The formatting trait a spec selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trait {
    Display,
    Debug,
    DebugLowerHex,
    DebugUpperHex,
    LowerHex,
    UpperHex,
    Octal,
    Binary,
    LowerExp,
    UpperExp,
}

impl Trait {
    fn is_debug(self) -> bool {
        matches!(self, Trait::Debug | Trait::DebugLowerHex | Trait::DebugUpperHex)
    }
}

impl Template {
    /// A template of these pieces, with its [`Shape`] worked out.
    fn new(pieces: Vec<Piece>, arg_count: usize) -> Self {
        let mut shape = Shape { sequential: true, plain: true, lit_needs_escape: false, plain_bound: 0 };
        let mut k = 0;
        for piece in &pieces {
            match piece {
                Piece::Lit(s) => {
                    shape.lit_needs_escape |= s.bytes().any(json_needs_escape);
                    shape.plain_bound = shape.plain_bound.saturating_add(s.len());
                }
                Piece::Arg(spec) => {
                    let counted = matches!(spec.width, Count::Arg(_)) || matches!(spec.precision, Count::Arg(_));
                    shape.sequential &= spec.arg == k && !counted;
                    shape.plain &= spec.plain;
                    shape.plain_bound = shape.plain_bound.saturating_add(PLAIN_VALUE_MAX);
                    k += 1;
                }
            }
        }
        Template { pieces, arg_count, shape }
    }

    /// Strict parse: `Err` for malformed strings and for unsupported features (named arguments
    /// `{name}`, implicit captures, `{:width$}` or `{:.prec$}` with a name, `{:p}`).
    ///
    /// Otherwise accepts exactly the syntax `format!` accepts (the parser follows rustc's). The
    /// error's offset is the byte where the problem was found.
    pub fn parse(fmt: &str) -> Result<Template, TemplateError> {
        parse_impl(fmt, false)
    }

    /// Never fails: anything unsupported or malformed is kept as literal text, so rendering
    /// still shows something useful.
    ///
    /// A bad `{...}` is kept from its `{` up to the next `}` (or just the `{` when another `{`
    /// comes first), a stray `}` is kept as is, and neither consumes an implicit argument.
    /// Strings that [`Template::parse`] accepts give the same template.
    pub fn parse_lossy(fmt: &str) -> Template {
        match parse_impl(fmt, true) {
            Ok(t) => t,
            // Not reachable: lossy parsing recovers from every error. Keep the text regardless.
            Err(_) => Template::new(vec![Piece::Lit(fmt.into())], 0),
        }
    }

    /// Number of positional arguments the template consumes (max index + 1, counting `.*`
    /// and `N$` references).
    pub fn arg_count(&self) -> usize {
        self.arg_count
    }

    /// The most [`render`](Self::render) appends: 1 MiB (see the module doc's "Length limit").
    pub const MAX_LEN: usize = 1 << 20;

    /// Appends the formatted output to `out`, at most [`Template::MAX_LEN`] bytes of it;
    /// returns `true` if the output was cut at that limit.
    ///
    /// Never panics: a missing argument renders as `{?}`, a value that does not support the
    /// requested trait (e.g. `{:x}` on a Str) renders as `{?}` too, and a width/precision
    /// argument that is not an unsigned integer (or is missing, or exceeds `u16::MAX`) is
    /// ignored. Allocates nothing beyond growing `out`.
    pub fn render(&self, args: &[Value<'_>], out: &mut String) -> bool {
        self.render_within(args, out, Self::MAX_LEN)
    }

    /// [`render`](Self::render) with another limit: appends at most `limit` bytes (cut at a
    /// `char` boundary) and returns `true` if it cut.
    ///
    /// ```
    /// use ringtrace::{Template, Value};
    /// let t = Template::parse("{:>8}|{:>8}").unwrap();
    /// let mut out = String::new();
    /// assert!(t.render_within(&[Value::U8(1), Value::U8(2)], &mut out, 10));
    /// assert_eq!(out, "       1| ");
    /// ```
    pub fn render_within(&self, args: &[Value<'_>], out: &mut String, limit: usize) -> bool {
        let stop_at = out.len().saturating_add(limit);
        for piece in &self.pieces {
            match piece {
                Piece::Lit(s) => out.push_str(s),
                Piece::Arg(spec) => render_arg(spec, args, out, stop_at),
            }
            if out.len() > stop_at {
                break;
            }
        }
        cut_at(out, stop_at)
    }

    /// Whether [`render_seq`](Self::render_seq) can render this template: the `k`th `{…}`
    /// formats value `k`, and no width or precision comes from a value.
    pub(crate) fn is_sequential(&self) -> bool {
        self.shape.sequential
    }

    /// Whether [`render_plain_encoded`](Self::render_plain_encoded) can render this template: it is
    /// sequential and every `{…}` is a plain `{}`.
    pub(crate) fn is_plain(&self) -> bool {
        self.shape.sequential && self.shape.plain
    }

    /// The most [`render_plain_encoded`](Self::render_plain_encoded) appends, less the
    /// values' encoded bytes.
    pub(crate) fn plain_bound(&self) -> usize {
        self.shape.plain_bound
    }

    /// [`render_within`](Self::render_within) for a [sequential](Self::is_sequential)
    /// template, taking the values one at a time from `args` as the pieces need them (no
    /// table of decoded values). Byte-identical to `render_within` with the values collected,
    /// cut included.
    pub(crate) fn render_seq<'v>(
        &self,
        mut args: impl Iterator<Item = Value<'v>>,
        out: &mut String,
        limit: usize,
    ) -> bool {
        debug_assert!(self.shape.sequential);
        let stop_at = out.len().saturating_add(limit);
        for piece in &self.pieces {
            match piece {
                Piece::Lit(s) => put(out, s),
                Piece::Arg(spec) => match args.next() {
                    None => out.push_str(UNSUPPORTED),
                    Some(v) if spec.plain => push_plain(out, &v, &mut |o: &mut String, s: &str| o.push_str(s)),
                    // Sequential: no count refers to another value, so the value alone will do.
                    Some(v) => render_arg(&Spec { arg: 0, ..*spec }, std::slice::from_ref(&v), out, stop_at),
                },
            }
            if out.len() > stop_at {
                break;
            }
        }
        cut_at(out, stop_at)
    }

    /// Renders a [plain](Self::is_plain) template straight from the encoded values (a
    /// record's message arguments) with no length limit: each value is decoded where its `{}`
    /// is, as [`Values`](crate::wire::value::Values) would decode it (one that does not decode
    /// shows as `<invalid>` and ends the values). Every piece of text (literal text, strings,
    /// chars, captured text) goes through `text`, numbers, booleans and placeholders (ASCII
    /// that no escaping changes) are appended directly. With `push_str` as `text` this is
    /// [`render_seq`](Self::render_seq) for output of at most `limit` bytes, which the caller
    /// ensures with [`plain_bound`](Self::plain_bound); with a JSON escaper, it is the
    /// escaped message in one pass (escaping works byte by byte on ASCII, so escaping each
    /// piece equals escaping the whole).
    #[inline]
    pub(crate) fn render_plain_encoded(
        &self,
        mut bytes: &[u8],
        out: &mut String,
        text: &mut impl FnMut(&mut String, &str),
    ) {
        debug_assert!(self.is_plain());
        for piece in &self.pieces {
            match piece {
                Piece::Lit(s) if self.shape.lit_needs_escape => text(out, s),
                Piece::Lit(s) => put(out, s),
                Piece::Arg(_) if bytes.is_empty() => put(out, UNSUPPORTED),
                Piece::Arg(_) => match push_plain_encoded(out, bytes, text) {
                    Some(rest) => bytes = rest,
                    None => {
                        bytes = &[];
                        put(out, "<invalid>");
                    }
                },
            }
        }
    }
}

/// Whether a JSON string must escape byte `b` (`"`, `\` and the controls below 0x20; each is
/// ASCII, so it is always a whole character).
#[inline]
pub(crate) fn json_needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Cuts `out` back to `stop_at` (at a `char` boundary) if it is longer; `true` if it cut.
fn cut_at(out: &mut String, stop_at: usize) -> bool {
    if out.len() <= stop_at {
        return false;
    }
    let mut end = stop_at;
    while !out.is_char_boundary(end) {
        end -= 1;
    }
    out.truncate(end);
    true
}

/// A plain `{}` of the value encoded at the front of `b` (as [`push_plain`] of the decoded
/// value), returning the bytes after it; `None` (nothing appended) when it does not decode.
/// The common numbers are read and written in one step, the rest go through
/// [`decode_value`].
#[inline(always)]
fn push_plain_encoded<'b>(out: &mut String, b: &'b [u8], text: &mut impl FnMut(&mut String, &str)) -> Option<&'b [u8]> {
    use crate::wire::value::tag;
    /// The `N` bytes after the tag, and the rest.
    #[inline(always)]
    fn fixed<const N: usize>(b: &[u8]) -> Option<([u8; N], &[u8])> {
        let v: [u8; N] = b.get(1..1 + N)?.try_into().ok()?;
        Some((v, &b[1 + N..]))
    }
    match b.first().copied()? {
        tag::U64 => fixed::<8>(b).map(|(v, r)| (push_u64(out, u64::from_le_bytes(v)), r).1),
        tag::U32 => fixed::<4>(b).map(|(v, r)| (push_u64(out, u64::from(u32::from_le_bytes(v))), r).1),
        tag::I64 => fixed::<8>(b).map(|(v, r)| (push_i64(out, i64::from_le_bytes(v)), r).1),
        tag::I32 => fixed::<4>(b).map(|(v, r)| (push_i64(out, i64::from(i32::from_le_bytes(v))), r).1),
        tag::F64 => fixed::<8>(b).map(|(v, r)| (push_f64(out, f64::from_le_bytes(v)), r).1),
        tag::F32 => fixed::<4>(b).map(|(v, r)| (push_f32(out, f32::from_le_bytes(v)), r).1),
        _ => {
            let (v, rest) = decode_value(b)?;
            push_plain(out, &v, text);
            Some(rest)
        }
    }
}

/// A plain `{}` of `v`, exactly as [`render_arg`] renders it: text-like values through
/// `text`, the rest appended directly.
#[inline]
fn push_plain(out: &mut String, v: &Value<'_>, text: &mut impl FnMut(&mut String, &str)) {
    match *v {
        Value::Str(s) | Value::Display(s) | Value::Debug(s) => text(out, s),
        Value::Error(e) => text(out, e.message()),
        Value::Char(c) => text(out, c.encode_utf8(&mut [0; 4])),
        Value::Bool(b) => put(out, if b { "true" } else { "false" }),
        Value::Invalid => put(out, "<invalid>"),
        Value::Bytes(_) => put(out, UNSUPPORTED),
        _ => {
            if !push_number(out, v) {
                out.push_str(UNSUPPORTED);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

fn parse_impl(fmt: &str, lossy: bool) -> Result<Template, TemplateError> {
    let mut p = Parser { s: fmt, pos: 0, curarg: 0 };
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut arg_count = 0usize;
    let bytes = fmt.as_bytes();
    while p.pos < fmt.len() {
        // Literal text up to the next brace.
        let rest = &bytes[p.pos..];
        let Some(skip) = rest.iter().position(|&b| b == b'{' || b == b'}') else {
            lit.push_str(&fmt[p.pos..]);
            break;
        };
        lit.push_str(&fmt[p.pos..p.pos + skip]);
        p.pos += skip;
        let brace = p.pos;
        if bytes[brace] == b'}' {
            if bytes.get(brace + 1) == Some(&b'}') {
                lit.push('}');
                p.pos += 2;
            } else if lossy {
                lit.push('}');
                p.pos += 1;
            } else {
                return Err(TemplateError { offset: brace, reason: "unmatched `}` found" });
            }
            continue;
        }
        if bytes.get(brace + 1) == Some(&b'{') {
            lit.push('{');
            p.pos += 2;
            continue;
        }
        p.pos += 1;
        let saved_curarg = p.curarg;
        match p.argument() {
            Ok(mut spec) => {
                spec.plain = spec.ty == Trait::Display
                    && !spec.plus
                    && !spec.alternate
                    && !spec.zero
                    && spec.width == Count::Implied
                    && spec.precision == Count::Implied;
                arg_count = arg_count.max(spec.arg + 1);
                for c in [spec.width, spec.precision] {
                    if let Count::Arg(i) = c {
                        arg_count = arg_count.max(i + 1);
                    }
                }
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit).into_boxed_str()));
                }
                pieces.push(Piece::Arg(spec));
            }
            Err(e) if !lossy => return Err(e),
            Err(_) => {
                p.curarg = saved_curarg;
                // Keep `{...}` up to the next `}`, or only the `{` when another `{` (which may
                // start a valid argument) comes first.
                let after = &bytes[brace + 1..];
                let end = match after.iter().position(|&b| b == b'{' || b == b'}') {
                    Some(i) if after[i] == b'}' => brace + 1 + i + 1,
                    _ => brace + 1,
                };
                lit.push_str(&fmt[brace..end]);
                p.pos = end;
            }
        }
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit.into_boxed_str()));
    }
    Ok(Template::new(pieces, arg_count))
}

/// A cursor over the inside of one `{...}`, with rustc's implicit argument counter.
#[derive(Debug)]
struct Parser<'a> {
    s: &'a str,
    /// Byte offset of the next char.
    pos: usize,
    /// Next implicit argument index.
    curarg: usize,
}

/// `rustc_lexer::is_id_start`, close enough: any difference only ever turns one error into
/// another, never an accepted string into a rejected one (recognised words are ASCII).
fn is_id_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_id_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.s[self.pos..].chars();
        it.next();
        it.next()
    }

    fn consume(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn err(&self, offset: usize, reason: &'static str) -> TemplateError {
        TemplateError { offset, reason }
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// Decimal digits as a `u16`; `Ok(None)` if there are none.
    fn integer(&mut self) -> Result<Option<u16>, TemplateError> {
        let start = self.pos;
        let mut cur: u16 = 0;
        let mut overflow = false;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            self.pos += 1;
            match cur.checked_mul(10).and_then(|v| v.checked_add(d as u16)) {
                Some(v) => cur = v,
                None => overflow = true,
            }
        }
        if overflow {
            return Err(self.err(start, "integer does not fit into `u16`"));
        }
        Ok((self.pos > start).then_some(cur))
    }

    /// An identifier (possibly empty).
    fn word(&mut self) -> &str {
        let start = self.pos;
        match self.peek() {
            Some(c) if is_id_start(c) => self.pos += c.len_utf8(),
            _ => return "",
        }
        while let Some(c) = self.peek() {
            if !is_id_continue(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }

    /// A width or precision: `N`, `N$`, or nothing (a `name$` is an error).
    fn count(&mut self) -> Result<Count, TemplateError> {
        if let Some(i) = self.integer()? {
            return Ok(if self.consume('$') { Count::Arg(usize::from(i)) } else { Count::Is(i) });
        }
        let start = self.pos;
        if !self.word().is_empty() && self.consume('$') {
            return Err(self.err(start, "named width or precision arguments are not supported"));
        }
        self.pos = start;
        Ok(Count::Implied)
    }

    /// Parses what follows a `{` up to and including its `}`.
    fn argument(&mut self) -> Result<Spec, TemplateError> {
        let position = match self.integer()? {
            Some(i) => Some(usize::from(i)),
            None => match self.peek() {
                Some(c) if is_id_start(c) => return Err(self.err(self.pos, "named arguments are not supported")),
                _ => None,
            },
        };
        self.ws();
        let mut spec = self.format()?;
        spec.arg = position.unwrap_or_else(|| {
            let i = self.curarg;
            self.curarg += 1;
            i
        });
        self.ws();
        if !self.consume('}') {
            return Err(if self.pos == self.s.len() {
                self.err(self.pos, "expected `}` but string was terminated")
            } else {
                self.err(self.pos, "expected `}`")
            });
        }
        Ok(spec)
    }

    /// The part after `:` (all defaults if there is no `:`); `arg` is filled in by the caller.
    fn format(&mut self) -> Result<Spec, TemplateError> {
        let mut spec = Spec {
            arg: 0,
            fill: ' ',
            align: Align::Unknown,
            plus: false,
            alternate: false,
            zero: false,
            width: Count::Implied,
            precision: Count::Implied,
            ty: Trait::Display,
            plain: false,
        };
        if !self.consume(':') {
            return Ok(spec);
        }
        if let (Some(c), Some('<' | '^' | '>')) = (self.peek(), self.peek2()) {
            spec.fill = c;
            self.pos += c.len_utf8();
        }
        if self.consume('<') {
            spec.align = Align::Left;
        } else if self.consume('>') {
            spec.align = Align::Right;
        } else if self.consume('^') {
            spec.align = Align::Center;
        }
        if self.consume('+') {
            spec.plus = true;
        } else {
            // `-` is a valid flag that std ignores.
            self.consume('-');
        }
        spec.alternate = self.consume('#');
        let mut have_width = false;
        if self.consume('0') {
            // `0$` is argument 0 as the width, not the `0` flag (as in rustc).
            if self.consume('$') {
                spec.width = Count::Arg(0);
                have_width = true;
            } else {
                spec.zero = true;
            }
        }
        if !have_width {
            spec.width = self.count()?;
        }
        if self.consume('.') {
            if self.consume('*') {
                spec.precision = Count::Arg(self.curarg);
                self.curarg += 1;
            } else {
                spec.precision = self.count()?;
            }
        }
        let ty_start = self.pos;
        spec.ty = if self.consume('x') {
            if self.consume('?') {
                Trait::DebugLowerHex
            } else {
                Trait::LowerHex
            }
        } else if self.consume('X') {
            if self.consume('?') {
                Trait::DebugUpperHex
            } else {
                Trait::UpperHex
            }
        } else if self.consume('?') {
            Trait::Debug
        } else {
            match self.word() {
                "" => Trait::Display,
                "e" => Trait::LowerExp,
                "E" => Trait::UpperExp,
                "o" => Trait::Octal,
                "b" => Trait::Binary,
                "p" => return Err(self.err(ty_start, "pointer formatting `{:p}` is not supported")),
                _ => return Err(self.err(ty_start, "unknown format trait")),
            }
        };
        Ok(spec)
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

/// A width or precision, if it resolves to something std would accept.
fn resolve(count: Count, args: &[Value<'_>]) -> Option<usize> {
    let n = match count {
        Count::Implied => return None,
        Count::Is(n) => return Some(usize::from(n)),
        Count::Arg(i) => match *args.get(i)? {
            Value::U8(n) => u128::from(n),
            Value::U16(n) => u128::from(n),
            Value::U32(n) => u128::from(n),
            Value::U64(n) => u128::from(n),
            Value::U128(n) => n,
            _ => return None,
        },
    };
    // std panics above `u16::MAX` ("Formatting argument out of range"): ignore instead.
    u16::try_from(n).ok().map(usize::from)
}

/// Renders one argument; `stop_at` (an output length) lets a long list stop early.
fn render_arg(spec: &Spec, args: &[Value<'_>], out: &mut String, stop_at: usize) {
    let Some(v) = args.get(spec.arg) else {
        out.push_str(UNSUPPORTED);
        return;
    };
    let width = resolve(spec.width, args);
    let precision = resolve(spec.precision, args);
    let ty = spec.ty;
    match *v {
        Value::U8(_)
        | Value::U16(_)
        | Value::U32(_)
        | Value::U64(_)
        | Value::U128(_)
        | Value::I8(_)
        | Value::I16(_)
        | Value::I32(_)
        | Value::I64(_)
        | Value::I128(_) => numeric(v, spec, width, precision, out),
        Value::F32(_) | Value::F64(_)
            if matches!(ty, Trait::Display | Trait::LowerExp | Trait::UpperExp) || ty.is_debug() =>
        {
            numeric(v, spec, width, precision, out)
        }
        Value::Str(s) if ty == Trait::Display => pad_str(s, spec, width, precision, out),
        Value::Char(c) if ty == Trait::Display => pad_str(c.encode_utf8(&mut [0; 4]), spec, width, precision, out),
        Value::Bool(b) if ty == Trait::Display || ty.is_debug() => {
            let text = if b { "true" } else { "false" };
            pad_str(text, spec, width, precision, out)
        }
        // Quoted and escaped; std ignores every option here.
        Value::Str(_) | Value::Char(_) if ty.is_debug() => {
            let start = out.len();
            if write!(out, "{v:?}").is_err() {
                out.truncate(start);
                out.push_str(UNSUPPORTED);
            }
        }
        Value::Bytes(b) if ty.is_debug() => bytes_debug(b, spec, width, precision, out, stop_at),
        // Captured text: verbatim under every trait, exactly as `Value`'s own impls.
        Value::Display(_) | Value::Debug(_) | Value::Error(_) | Value::Invalid => {
            let start = out.len();
            if write!(out, "{v}").is_err() {
                out.truncate(start);
                out.push_str(UNSUPPORTED);
            }
        }
        _ => out.push_str(UNSUPPORTED),
    }
}

/// `Formatter::pad`: truncate to `precision` chars, then pad (left-aligned by default).
fn pad_str(s: &str, spec: &Spec, width: Option<usize>, precision: Option<usize>, out: &mut String) {
    let s = match precision.and_then(|p| s.char_indices().nth(p)) {
        Some((end, _)) => &s[..end],
        None => s,
    };
    let chars = match width {
        Some(_) => s.chars().count(),
        None => 0,
    };
    match width {
        Some(w) if w > chars => {
            let (pre, post) = split_padding(w - chars, spec.align, Align::Left);
            push_fill(out, spec.fill, pre);
            out.push_str(s);
            push_fill(out, spec.fill, post);
        }
        _ => out.push_str(s),
    }
}

/// An integer or a float: std writes the body, padding is added here (see the module doc).
fn numeric(v: &Value<'_>, spec: &Spec, width: Option<usize>, precision: Option<usize>, out: &mut String) {
    let start = out.len();
    // With `0` and a width std pads sign-aware with zeros and ignores fill and alignment.
    let zero_width = if spec.zero { width } else { None };
    let (ty, plus, alt) = (spec.ty, spec.plus, spec.alternate);
    // The common `{}` / `{:?}` on an integer: plain decimal, no `core::fmt` round trip
    // (precision is ignored by integers, but such specs are rare: leave them to std).
    // Floats only under `Display` (`Debug` writes `1.0` and exponents).
    let plain = matches!(ty, Trait::Display | Trait::Debug) && !plus && !alt && zero_width.is_none();
    let fast =
        plain && precision.is_none() && if ty == Trait::Display { push_number(out, v) } else { push_int(out, v) };
    if !fast && delegate(out, v, ty, plus, alt, zero_width, precision).is_err() {
        out.truncate(start);
        out.push_str(UNSUPPORTED);
        return;
    }
    if zero_width.is_some() {
        return;
    }
    if let Some(w) = width {
        // Number bodies are ASCII: bytes are chars.
        let len = out.len() - start;
        if w > len {
            let (pre, post) = split_padding(w - len, spec.align, Align::Right);
            insert_fill(out, start, spec.fill, pre);
            push_fill(out, spec.fill, post);
        }
    }
}

/// `<[u8] as Debug>::fmt`: `debug_list` over the elements, each formatted as a `u8` with the
/// whole spec (fill, width and all); `#` pretty-prints with std's `PadAdapter` indentation.
/// Stops after the element that takes `out` past `stop_at` (the caller cuts the output).
fn bytes_debug(
    bytes: &[u8],
    spec: &Spec,
    width: Option<usize>,
    precision: Option<usize>,
    out: &mut String,
    stop_at: usize,
) {
    out.push('[');
    if spec.alternate {
        if !bytes.is_empty() {
            out.push('\n');
        }
        for &b in bytes {
            if out.len() > stop_at {
                return;
            }
            let entry = out.len();
            out.push_str("    ");
            numeric(&Value::U8(b), spec, width, precision, out);
            out.push_str(",\n");
            // `PadAdapter` indents every line of the entry: only a `'\n'` fill makes more than
            // one. Insert after each newline but the entry's final one, back to front.
            if spec.fill == '\n' {
                let mut i = out.len() - 1;
                while i > entry {
                    i -= 1;
                    if out.as_bytes()[i] == b'\n' {
                        out.insert_str(i + 1, "    ");
                    }
                }
            }
        }
    } else {
        for (i, &b) in bytes.iter().enumerate() {
            if out.len() > stop_at {
                return;
            }
            if i > 0 {
                out.push_str(", ");
            }
            numeric(&Value::U8(b), spec, width, precision, out);
        }
    }
    out.push(']');
}

/// Padding before and after, as `Formatter::padding` splits it.
fn split_padding(pad: usize, align: Align, default: Align) -> (usize, usize) {
    let align = if align == Align::Unknown { default } else { align };
    match align {
        Align::Left => (0, pad),
        Align::Center => (pad / 2, pad.div_ceil(2)),
        Align::Right | Align::Unknown => (pad, 0),
    }
}

fn push_fill(out: &mut String, fill: char, n: usize) {
    if n == 0 {
        return;
    }
    out.reserve(n * fill.len_utf8());
    for _ in 0..n {
        out.push(fill);
    }
}

/// Inserts `n` fill chars at byte offset `at`, up to 64 bytes at a time.
fn insert_fill(out: &mut String, at: usize, fill: char, mut n: usize) {
    if n == 0 {
        return;
    }
    let len = fill.len_utf8();
    out.reserve(n * len);
    let mut buf = [0u8; 64];
    let chunk = if fill == ' ' {
        Some(SPACES)
    } else {
        for i in 0..buf.len() / len {
            fill.encode_utf8(&mut buf[i * len..]);
        }
        std::str::from_utf8(&buf[..buf.len() / len * len]).ok()
    };
    let Some(chunk) = chunk else {
        // Not reachable (whole chars were encoded), but never panic.
        for _ in 0..n {
            out.insert(at, fill);
        }
        return;
    };
    let per_chunk = chunk.len() / len;
    while n > 0 {
        let k = n.min(per_chunk);
        out.insert_str(at, &chunk[..k * len]);
        n -= k;
    }
}

/// One `write!` per literal spec: `$flags` is the sign/`#` part, `$ty` the trait. The width is
/// only ever passed together with the `0` flag.
macro_rules! arms_wp {
    ($out:ident, $v:ident, $w:ident, $p:ident, $flags:literal, $ty:literal) => {
        match ($w, $p) {
            (None, None) => write!($out, concat!("{:", $flags, $ty, "}"), $v),
            (Some(w), None) => write!($out, concat!("{:", $flags, "0w$", $ty, "}"), $v, w = w),
            (None, Some(p)) => write!($out, concat!("{:", $flags, ".p$", $ty, "}"), $v, p = p),
            (Some(w), Some(p)) => {
                write!($out, concat!("{:", $flags, "0w$.p$", $ty, "}"), $v, w = w, p = p)
            }
        }
    };
}

macro_rules! arms_flags {
    ($out:ident, $v:ident, $plus:ident, $alt:ident, $w:ident, $p:ident, $ty:literal) => {
        match ($plus, $alt) {
            (false, false) => arms_wp!($out, $v, $w, $p, "", $ty),
            (true, false) => arms_wp!($out, $v, $w, $p, "+", $ty),
            (false, true) => arms_wp!($out, $v, $w, $p, "#", $ty),
            (true, true) => arms_wp!($out, $v, $w, $p, "+#", $ty),
        }
    };
}

/// Lets std format `v` with trait `ty`, the `+`/`#` flags, an optional zero-padded width and
/// an optional precision. Both counts must be at most `u16::MAX` (std panics otherwise).
fn delegate(
    out: &mut String,
    v: &Value<'_>,
    ty: Trait,
    plus: bool,
    alt: bool,
    zero_width: Option<usize>,
    precision: Option<usize>,
) -> fmt::Result {
    let (w, p) = (zero_width, precision);
    match ty {
        Trait::Display => arms_flags!(out, v, plus, alt, w, p, ""),
        Trait::Debug => arms_flags!(out, v, plus, alt, w, p, "?"),
        Trait::DebugLowerHex => arms_flags!(out, v, plus, alt, w, p, "x?"),
        Trait::DebugUpperHex => arms_flags!(out, v, plus, alt, w, p, "X?"),
        Trait::LowerHex => arms_flags!(out, v, plus, alt, w, p, "x"),
        Trait::UpperHex => arms_flags!(out, v, plus, alt, w, p, "X"),
        Trait::Octal => arms_flags!(out, v, plus, alt, w, p, "o"),
        Trait::Binary => arms_flags!(out, v, plus, alt, w, p, "b"),
        Trait::LowerExp => arms_flags!(out, v, plus, alt, w, p, "e"),
        Trait::UpperExp => arms_flags!(out, v, plus, alt, w, p, "E"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::value::{decode_value, tag};
    use std::fmt::{Binary, Debug, Display, LowerExp, LowerHex, Octal, UpperExp, UpperHex};

    /// Everything an integer implements (and `Value` too, for the verbatim variants).
    trait IntLike: Display + Debug + LowerHex + UpperHex + Octal + Binary + LowerExp + UpperExp {}
    impl<T> IntLike for T where T: Display + Debug + LowerHex + UpperHex + Octal + Binary + LowerExp + UpperExp + ?Sized {}
    /// What a float implements.
    trait FloatLike: Display + Debug + LowerExp + UpperExp {}
    impl<T: Display + Debug + LowerExp + UpperExp + ?Sized> FloatLike for T {}
    /// What `str`, `char` and `bool` implement.
    trait TextLike: Display + Debug {}
    impl<T: Display + Debug + ?Sized> TextLike for T {}

    fn render(fmt: &str, args: &[Value<'_>]) -> String {
        let t = Template::parse(fmt).unwrap_or_else(|e| panic!("{fmt:?}: {e}"));
        let mut out = String::new();
        t.render(args, &mut out);
        out
    }

    fn lossy(fmt: &str, args: &[Value<'_>]) -> String {
        let mut out = String::new();
        Template::parse_lossy(fmt).render(args, &mut out);
        out
    }

    /// Separates the specs of one grid row (no test value contains it).
    const SEP: char = '\u{E000}';

    /// Cartesian product of lists of string literals: calls `$cb!($($ctx)*; (a b c) ...)`
    /// once, with one parenthesised group of literals per combination (last list outermost).
    macro_rules! product {
        (@step $cb:ident!($($ctx:tt)*) [$($partials:tt)*]) => {
            $cb!($($ctx)*; $($partials)*)
        };
        (@step $cb:ident!($($ctx:tt)*) [$($partials:tt)*] [$($list:literal),*] $($rest:tt)*) => {
            product!(@mul $cb!($($ctx)*) [] [$($partials)*] [$($list),*] $($rest)*)
        };
        (@mul $cb:ident!($($ctx:tt)*) [$($out:tt)*] [$($partials:tt)*] [] $($rest:tt)*) => {
            product!(@step $cb!($($ctx)*) [$($out)*] $($rest)*)
        };
        (@mul $cb:ident!($($ctx:tt)*) [$($out:tt)*] [$(($($p:literal)*))*]
            [$h:literal $(, $hs:literal)*] $($rest:tt)*) => {
            product!(@mul $cb!($($ctx)*) [$($out)* $(($($p)* $h))*] [$(($($p)*))*] [$($hs),*]
                $($rest)*)
        };
        ($cb:ident!($($ctx:tt)*); $($lists:tt)*) => {
            product!(@step $cb!($($ctx)*) [()] $($lists)*)
        };
    }

    /// A reference formatter for one grid row: `format!` of every spec of the row on the same
    /// value, with `w` and `p` as the named width and precision arguments `w$`/`p$`.
    type Reference<T> = fn(&T, usize, usize) -> String;

    /// Gives the closures in [`row`] their signature.
    fn reference<T: ?Sized>(f: Reference<T>) -> Reference<T> {
        f
    }

    /// One row: `(template text, reference)`. All specs go into a single `format!` (one
    /// `format!` per spec would take minutes to compile), separated by [`SEP`]; the trailing
    /// `{z:.w$}{z:.p$}` prints nothing but uses both counts, which not every row does.
    macro_rules! row {
        ($t:ty; $(($($lit:literal)*))*) => {
            (
                concat!($("{0:", $($lit,)* "}", '\u{E000}',)*),
                reference::<$t>(|v, w, p| {
                    format!(
                        concat!($("{0:", $($lit,)* "}", '\u{E000}',)* "{z:.w$}{z:.p$}"),
                        v, w = w, p = p, z = ""
                    )
                }),
            )
        };
    }

    /// Every fill/alignment × sign × `#` × `0` × precision (absent or `.p$`) × trait, always
    /// with a width `w$` (a width of 0 formats exactly like no width; [`run_grid`] tests the
    /// template both without one and with each literal and argument width).
    macro_rules! grid {
        ($t:ty, [$($ty:literal),*]) => {
            [
                product!(row!($t);
                    ["", "<", "^", ">", "*<", "*^", "*>", "é^", "0>", "}<", "{^"]
                    ["", "+", "-"] ["", "#"] ["", "0"] ["w$"] [""] [$($ty),*]),
                product!(row!($t);
                    ["", "<", "^", ">", "*<", "*^", "*>", "é^", "0>", "}<", "{^"]
                    ["", "+", "-"] ["", "#"] ["", "0"] ["w$"] [".p$"] [$($ty),*]),
            ]
        };
    }

    /// Checks every row against every case for several widths and precisions, each given as a
    /// literal (or left out, for 0) and as an argument. Returns the
    /// number of spec × value × count comparisons.
    fn run_grid<T: ?Sized + Debug>(rows: &[(&str, Reference<T>)], cases: &[(&T, Value<'_>)]) -> usize {
        let mut n = 0;
        let mut got = String::new();
        for &(text, reference) in rows {
            let specs = text.split(SEP).count() - 1;
            let precisions: &[usize] = if text.contains(".p$") { &[0, 1, 3, 8] } else { &[0] };
            let by_arg = text.replace("w$", "1$").replace(".p$", ".2$");
            let by_arg = Template::parse(&by_arg).unwrap_or_else(|e| panic!("{by_arg:?}: {e}"));
            for w in [0usize, 1, 5, 13] {
                for &p in precisions {
                    let width = if w == 0 { String::new() } else { w.to_string() };
                    let lit = text.replace("w$", &width).replace(".p$", &format!(".{p}"));
                    let literal = Template::parse(&lit).unwrap_or_else(|e| panic!("{lit:?}: {e}"));
                    // The same specs taking values in order (`{:…}` each): sequential, so
                    // also rendered one value at a time.
                    let seq = lit.replace("{0:", "{:");
                    let seq = Template::parse(&seq).unwrap_or_else(|e| panic!("{seq:?}: {e}"));
                    assert!(seq.is_sequential() && !literal.is_sequential() || specs == 1, "{lit:?}");
                    for (typed, val) in cases {
                        let want = reference(typed, w, p);
                        got.clear();
                        literal.render(std::slice::from_ref(val), &mut got);
                        same(&got, &want, &lit, None, typed);
                        got.clear();
                        seq.render_seq(std::iter::repeat_n(*val, specs), &mut got, Template::MAX_LEN);
                        same(&got, &want, &lit, None, typed);
                        got.clear();
                        by_arg.render(&[*val, Value::U64(w as u64), Value::U64(p as u64)], &mut got);
                        same(&got, &want, text, Some((w, p)), typed);
                        n += specs;
                    }
                }
            }
        }
        n
    }

    /// Asserts that a rendered row equals its reference, naming the first spec that differs
    /// (and the width and precision arguments, when the row takes them from arguments).
    fn same(got: &str, want: &str, text: &str, counts: Option<(usize, usize)>, typed: &dyn Debug) {
        if got == want {
            return;
        }
        let specs = text.split(SEP);
        for ((g, w), spec) in got.split(SEP).zip(want.split(SEP)).zip(specs) {
            assert_eq!(g, w, "spec {spec:?}, (w, p) = {counts:?}, value {typed:?}");
        }
        panic!("rows differ: {got:?} vs {want:?}");
    }

    /// `.*` (precision from the next implicit argument) against `format!(spec, p, v)`.
    macro_rules! check_star {
        ($cases:ident, $($spec:literal),*) => {{
            let mut n = 0;
            $(
                let t = Template::parse($spec).unwrap();
                assert_eq!(t.arg_count(), 2, "{}", $spec);
                for (typed, val) in $cases.iter() {
                    for p in [0usize, 1, 4] {
                        let mut got = String::new();
                        t.render(&[Value::U32(p as u32), *val], &mut got);
                        let want = format!($spec, p, typed);
                        assert_eq!(got, want, "spec {:?}, value {typed:?}", $spec);
                        n += 1;
                    }
                }
            )*
            n
        }};
    }

    macro_rules! cases {
        ($($ty:ident: $variant:ident => [$($v:expr),* $(,)?];)*) => {
            vec![$($((&$v as &dyn IntLike, Value::$variant($v)),)*)*]
        };
    }

    fn int_cases() -> Vec<(&'static dyn IntLike, Value<'static>)> {
        cases! {
            u8: U8 => [0u8, 7, u8::MAX];
            u16: U16 => [u16::MAX];
            u32: U32 => [65536u32];
            u64: U64 => [u64::MAX];
            u128: U128 => [0u128, u128::MAX];
            i8: I8 => [i8::MIN, -1i8, i8::MAX];
            i16: I16 => [-300i16];
            i32: I32 => [i32::MIN, 42i32];
            i64: I64 => [i64::MIN, 1_000_000_007i64];
            i128: I128 => [i128::MIN, -1i128, i128::MAX];
        }
    }

    /// Captured text: `Value` itself is the typed value (verbatim under every trait).
    fn verbatim_cases() -> Vec<(&'static dyn IntLike, Value<'static>)> {
        static ERR: &[u8] = &[tag::ERROR, 2, 4, 0, b'o', b'u', b't', b'!', 4, 0, b'r', b'o', b'o', b't'];
        let err = decode_value(ERR).expect("valid error encoding").0;
        let vals: Vec<Value<'static>> =
            vec![Value::Display("shown é"), Value::Debug("Some(\"x\")"), Value::Display(""), err, Value::Invalid];
        vals.into_iter().map(|v| (Box::leak(Box::new(v)) as &dyn IntLike, v)).collect()
    }

    fn float_cases() -> Vec<(&'static dyn FloatLike, Value<'static>)> {
        macro_rules! floats {
            ($($ty:ident: $variant:ident => [$($v:expr),* $(,)?];)*) => {
                vec![$($((&$v as &dyn FloatLike, Value::$variant($v)),)*)*]
            };
        }
        floats! {
            f32: F32 => [0.0f32, -0.0f32, 1.5f32, -2.25f32, 0.1f32, 1e-7f32, f32::MAX,
                f32::MIN_POSITIVE,
                f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 123456.79f32, 1e16f32, -9.999f32];
            f64: F64 => [0.0f64, -0.0f64, 1.5f64, -1234.5678f64, 0.30000000000000004f64, 1e-7f64,
                5e-324f64, -1.5e100f64, f64::MIN_POSITIVE, f64::NAN, -f64::NAN, f64::INFINITY,
                f64::NEG_INFINITY, 1e15f64, 1e16f64, 0.0001f64, 0.00001f64, 2.5f64, -0.5f64];
        }
    }

    fn text_cases() -> Vec<(&'static dyn TextLike, Value<'static>)> {
        macro_rules! texts {
            ($($variant:ident => [$($v:expr),* $(,)?];)*) => {
                vec![$($((&$v as &dyn TextLike, Value::$variant($v)),)*)*]
            };
        }
        texts! {
            Str => ["", "a", "héllo", "a\"b\\c'\n\t", "日本語テキスト", "e\u{301}", "\u{0}\u{7f}\u{200b}",
                "a long string that is wider than every width"];
            Char => ['a', 'é', '日', '\n', '\'', '"', '\u{301}', '\u{10FFFF}', '\u{7f}', ' ', '\\'];
            Bool => [true, false];
        }
    }

    fn bytes_cases() -> Vec<(&'static dyn Debug, Value<'static>)> {
        static BYTES: [&[u8]; 5] = [&[], &[0], &[1, 2, 255], &[10, 100, 16], b"hi\n"];
        BYTES.iter().map(|b| (b as &dyn Debug, Value::Bytes(b))).collect()
    }

    /// A JSON string body, as `render` escapes a message (a test copy, kept simple).
    fn json_escape(out: &mut String, s: &str) {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }

    /// A value as a record encodes it (`Invalid` as an unknown tag).
    fn encode(v: &Value<'_>, out: &mut Vec<u8>) {
        let text = |out: &mut Vec<u8>, t: u8, b: &[u8]| {
            out.push(t);
            out.extend_from_slice(&(b.len() as u16).to_le_bytes());
            out.extend_from_slice(b);
        };
        macro_rules! num {
            ($t:ident, $n:expr) => {{
                out.push(tag::$t);
                out.extend_from_slice(&$n.to_le_bytes());
            }};
        }
        match *v {
            Value::U8(n) => num!(U8, n),
            Value::U16(n) => num!(U16, n),
            Value::U32(n) => num!(U32, n),
            Value::U64(n) => num!(U64, n),
            Value::U128(n) => num!(U128, n),
            Value::I8(n) => num!(I8, n),
            Value::I16(n) => num!(I16, n),
            Value::I32(n) => num!(I32, n),
            Value::I64(n) => num!(I64, n),
            Value::I128(n) => num!(I128, n),
            Value::F32(n) => num!(F32, n),
            Value::F64(n) => num!(F64, n),
            Value::Bool(b) => out.extend([tag::BOOL, u8::from(b)]),
            Value::Char(c) => num!(CHAR, c as u32),
            Value::Str(s) => text(out, tag::STR, s.as_bytes()),
            Value::Bytes(b) => text(out, tag::BYTES, b),
            Value::Display(s) => text(out, tag::DISPLAY, s.as_bytes()),
            Value::Debug(s) => text(out, tag::DEBUG, s.as_bytes()),
            Value::Error(e) => {
                out.extend([tag::ERROR, e.iter().count() as u8]);
                for s in e.iter() {
                    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
            }
            Value::Invalid => out.push(200),
        }
    }

    /// `render_seq` and `render_plain_encoded` (plain text and JSON-escaped) against
    /// `render_within` with the values in a table, for templates of every shape, every kind
    /// of value, and limits that cut anywhere.
    #[test]
    fn one_pass_renders_match_render_within() {
        let templates = [
            "",
            "{}",
            "{} {}",
            "order {} filled at {} qty {}",
            "a \"quoted\" {}\n\\ and {}",
            "{}{}{}{}{}",
            "{:>8.2} {:x} {}",
            "{:?} {:5} {:<3}|",
            "{:#?} {:e} {:+}",
            "{0} {1} {2}",
            "ünï {} 日本 {}",
            "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
        ];
        let values: Vec<Value<'_>> = [
            int_cases().into_iter().map(|c| c.1).collect::<Vec<_>>(),
            float_cases().into_iter().map(|c| c.1).collect(),
            text_cases().into_iter().map(|c| c.1).collect(),
            bytes_cases().into_iter().map(|c| c.1).collect(),
            verbatim_cases().into_iter().map(|c| c.1).collect(),
        ]
        .concat();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let (mut want, mut got, mut json) = (String::new(), String::new(), String::new());
        let mut bytes = Vec::new();
        let mut checked = 0;
        for text in templates {
            let t = Template::parse(text).unwrap();
            assert!(t.is_sequential(), "{text:?}");
            for _ in 0..3_000 {
                // Fewer values than the template takes, now and then.
                let n = t.arg_count().saturating_sub(rng.below(3) / 2);
                let args: Vec<Value<'_>> = (0..n).map(|_| values[rng.below(values.len())]).collect();
                let limit = if rng.below(4) == 0 { rng.below(60) } else { Template::MAX_LEN };
                want.clear();
                let cut = t.render_within(&args, &mut want, limit);
                got.clear();
                assert_eq!(t.render_seq(args.iter().copied(), &mut got, limit), cut, "{text:?} {args:?}");
                assert_eq!(got, want, "{text:?} {args:?} limit {limit}");
                if t.is_plain() {
                    // From the encoded values, as a record holds them (an `Invalid` there is
                    // an undecodable value: it ends the values).
                    bytes.clear();
                    args.iter().for_each(|v| encode(v, &mut bytes));
                    let decoded: Vec<Value<'_>> = crate::wire::value::Values::new(&bytes, usize::MAX).collect();
                    want.clear();
                    t.render_within(&decoded, &mut want, Template::MAX_LEN);
                    got.clear();
                    t.render_plain_encoded(&bytes, &mut got, &mut |o: &mut String, s: &str| o.push_str(s));
                    assert_eq!(got, want, "{text:?} {args:?}");
                    assert!(want.len() <= t.plain_bound() + bytes.len(), "{text:?} {args:?}");
                    got.clear();
                    t.render_plain_encoded(&bytes, &mut got, &mut json_escape);
                    json.clear();
                    json_escape(&mut json, &want);
                    assert_eq!(got, json, "{text:?} {args:?}");
                }
                checked += 1;
            }
        }
        assert!(checked > 30_000);
        for text in ["{1} {0}", "{0} {0}", "{:.*}", "{:1$}", "{} {2:.*}"] {
            assert!(!Template::parse(text).unwrap().is_sequential(), "{text:?}");
        }
        for text in ["{:>5}", "{:?}", "{:0}", "{:+}", "{:.3}", "{:x}"] {
            assert!(!Template::parse(text).unwrap().is_plain(), "{text:?}");
        }
        assert!(Template::parse("{} {:} { } {3:}").unwrap().is_plain());
    }

    #[test]
    fn ints_match_format() {
        let table = grid!(dyn IntLike, ["", "?", "x?", "X?", "x", "X", "o", "b", "e", "E"]);
        let cases = int_cases();
        let n = run_grid(&table, &cases);
        let n = n + check_star!(cases, "{:.*}", "{:*^+#09.*e}", "{:.*x?}", "{1:>5.*}");
        assert!(n > 100_000, "{n}");
    }

    #[test]
    fn floats_match_format() {
        let table = grid!(dyn FloatLike, ["", "?", "x?", "X?", "e", "E"]);
        let cases = float_cases();
        let n = run_grid(&table, &cases);
        let n = n + check_star!(cases, "{:.*}", "{:*^+#09.*e}", "{:é<9.*?}", "{1:>5.*}", "{:+010.*}");
        assert!(n > 100_000, "{n}");
    }

    #[test]
    fn extreme_floats_match_format() {
        // Slow to format exactly (hundreds of digits), so a smaller spec list.
        let cases: Vec<(&dyn FloatLike, Value<'_>)> = vec![
            (&f64::MAX, Value::F64(f64::MAX)),
            (&f64::MIN, Value::F64(f64::MIN)),
            (&1e300f64, Value::F64(1e300)),
            (&f32::MIN, Value::F32(f32::MIN)),
        ];
        let table = [product!(row!(dyn FloatLike);
            ["", "*^", "é<"] ["", "+"] ["", "#"] ["", "0"] ["w$"] ["", ".p$"] ["", "?", "e"])];
        assert!(run_grid(&table, &cases) > 5_000);
    }

    #[test]
    fn counts_from_any_unsigned_kind() {
        let v = Value::F64(-3.25);
        let want = format!("{:*^+9.3}|{:>09.0e}", -3.25, -3.25);
        let t = Template::parse("{0:*^+1$.2$}|{0:>01$.3$e}").unwrap();
        for (w, p, z) in [
            (Value::U8(9), Value::U16(3), Value::U32(0)),
            (Value::U64(9), Value::U128(3), Value::U8(0)),
            (Value::U128(9), Value::U8(3), Value::U64(0)),
        ] {
            let mut got = String::new();
            t.render(&[v, w, p, z], &mut got);
            assert_eq!(got, want);
        }
    }

    #[test]
    fn str_char_bool_match_format() {
        let table = grid!(dyn TextLike, ["", "?", "x?", "X?"]);
        let cases = text_cases();
        let n = run_grid(&table, &cases);
        let n = n + check_star!(cases, "{:.*}", "{:*^+#09.*}", "{:é<9.*?}", "{1:>5.*}", "{:010.*}");
        assert!(n > 50_000, "{n}");
    }

    #[test]
    fn bytes_match_format() {
        let table = grid!(dyn Debug, ["?", "x?", "X?"]);
        let cases = bytes_cases();
        let n = run_grid(&table, &cases);
        let n = n + check_star!(cases, "{:.*?}", "{:*^+#09.*x?}");
        assert!(n > 10_000, "{n}");
    }

    #[test]
    fn bytes_pretty_with_newline_fill_indents_like_pad_adapter() {
        let b: &[u8] = &[1, 200];
        let v = [Value::Bytes(b)];
        assert_eq!(render("{:\n>#4?}", &v), format!("{:\n>#4?}", b));
        assert_eq!(render("{:\n<#4?}", &v), format!("{:\n<#4?}", b));
        assert_eq!(render("{:\n^#6x?}", &v), format!("{:\n^#6x?}", b));
        assert_eq!(render("{:\n^4?}", &v), format!("{:\n^4?}", b));
        assert_eq!(render("{:\n^#04?}", &v), format!("{:\n^#04?}", b));
    }

    #[test]
    fn verbatim_values_match_their_own_formatting() {
        let table = grid!(dyn IntLike, ["", "x", "?"]);
        let n = run_grid(&table, &verbatim_cases());
        assert!(n > 10_000, "{n}");
    }

    #[test]
    fn positions_and_implicit_counter_follow_rustc() {
        let a = [Value::Str("x"), Value::U8(5), Value::F64(0.01)];
        // The std::fmt docs' example: precision from the argument after the implicit one.
        assert_eq!(render("Hello {} is {2:.*}", &a), format!("Hello {} is {2:.*}", "x", 5, 0.01));
        let b = [Value::I32(1), Value::I32(2), Value::I32(3)];
        assert_eq!(render("{0}{0}", &b), format!("{0}{0}", 1));
        assert_eq!(render("{1} {} {0} {}", &b[..2]), format!("{1} {} {0} {}", 1, 2));
        assert_eq!(
            render("{} {0 } { } { :x}|{:x }", &[b[0], b[1], b[2], Value::I32(-1)]),
            format!("{} {0 } { } { :x}|{:x }", 1, 2, 3, -1)
        );
        // `.*` takes the precision first, then the value.
        let c = [Value::U64(2), Value::F32(1.23456), Value::U64(1), Value::F64(9.87)];
        assert_eq!(render("{:.*} {:.*}", &c), format!("{:.*} {:.*}", 2, 1.23456f32, 1, 9.87));
        // `0$` is a width taken from argument 0, not the `0` flag.
        let d = [Value::U64(6), Value::I8(-3)];
        assert_eq!(render("[{1:0$}] [{1:00$}] [{1:0$.0$}]", &d), format!("[{1:0$}] [{1:00$}] [{1:0$.0$}]", 6, -3i8));
        assert_eq!(render("{:1$}|{}", &[Value::U8(7), Value::U64(3)]), format!("{:1$}|{}", 7u8, 3));
        // Whitespace inside braces, `{:.}`, fills that are braces or flags.
        let e = [Value::U16(42), Value::Str("s")];
        assert_eq!(render("{\t}{0\n:x\n}{:.}", &e), format!("{\t}{0\n:x\n}{:.}", 42u16, "s"));
        assert_eq!(
            render("[{:}>5}][{1:{<4}][{0:<<5}][{0:+>+5}]", &e),
            format!("[{:}>5}][{1:{<4}][{0:<<5}][{0:+>+5}]", 42u16, "s")
        );
    }

    #[test]
    fn literals_and_escapes() {
        assert_eq!(render("", &[]), "");
        assert_eq!(render("{{}}", &[]), format!("{{}}"));
        assert_eq!(render("a{{b}}c", &[]), "a{b}c");
        let v = [Value::Str("id"), Value::F64(1234.5678), Value::U32(255)];
        let fmt = "order {} filled at {:>8.2} qty {:#x} {{done}} ünï\n";
        assert_eq!(
            render(fmt, &v),
            format!("order {} filled at {:>8.2} qty {:#x} {{done}} ünï\n", "id", 1234.5678, 255u32)
        );
        assert_eq!(render("{{{}}}", &v[..1]), "{id}");
        let t = Template::parse("x{{").unwrap();
        assert_eq!(t.arg_count(), 0);
    }

    #[test]
    fn arg_count_counts_every_reference() {
        let count = |s: &str| Template::parse(s).unwrap().arg_count();
        assert_eq!(count("no args"), 0);
        assert_eq!(count("{} {}"), 2);
        assert_eq!(count("{:.*}"), 2);
        assert_eq!(count("{0:.*}"), 1);
        assert_eq!(count("{2}"), 3);
        assert_eq!(count("{:5$}"), 6);
        assert_eq!(count("{:.3$}"), 4);
        assert_eq!(count("{0} {0:1$.2$}"), 3);
        assert_eq!(count("{} {2:.*}"), 3);
    }

    #[test]
    fn missing_and_unsupported_render_placeholder() {
        assert_eq!(render("{} {}", &[Value::U8(1)]), "1 {?}");
        assert_eq!(render("{:x}", &[Value::Str("a")]), "{?}");
        assert_eq!(render("{:>8e}", &[Value::Bool(true)]), "{?}");
        assert_eq!(render("{:o}", &[Value::F64(1.0)]), "{?}");
        assert_eq!(render("{:X}", &[Value::Char('c')]), "{?}");
        assert_eq!(render("{}", &[Value::Bytes(b"ab")]), "{?}");
        assert_eq!(render("{:b}", &[Value::Bytes(b"ab")]), "{?}");
        assert_eq!(render("a{:e}b", &[Value::Str("s")]), "a{?}b");
        // Counts that are not unsigned integers, missing, or out of std's range are ignored.
        assert_eq!(render("[{:1$}]", &[Value::U8(1), Value::I32(5)]), "[1]");
        assert_eq!(render("[{:1$}]", &[Value::U8(1), Value::Str("5")]), "[1]");
        assert_eq!(render("[{:1$}]", &[Value::U8(1)]), "[1]");
        assert_eq!(render("[{:.*}]", &[Value::F64(1.5), Value::F64(2.5)]), "[2.5]");
        assert_eq!(render("[{:.*}]", &[Value::U8(2)]), "[{?}]");
        assert_eq!(render("[{:>1$}]", &[Value::U8(1), Value::U64(65_536)]), "[1]");
        assert_eq!(render("[{:>1$}]", &[Value::U8(1), Value::U64(u64::MAX)]), "[1]");
        assert_eq!(render("[{:>1$}]", &[Value::U8(1), Value::U128(u128::MAX)]), "[1]");
        // ... while the largest count std accepts is honoured.
        let s = render("{:>1$}", &[Value::U8(1), Value::U64(65_535)]);
        assert_eq!(s, format!("{:>1$}", 1u8, 65_535));
        let s = render("{:01$.2$}", &[Value::F32(1.0), Value::U16(u16::MAX), Value::U16(u16::MAX)]);
        assert_eq!(s, format!("{:01$.2$}", 1.0f32, 65_535, 65_535));
        let s = render("{:^65535.65535e}", &[Value::U128(u128::MAX)]);
        assert_eq!(s, format!("{:^65535.65535e}", u128::MAX));
    }

    #[test]
    fn parse_rejects_with_offsets() {
        let err = |s: &str| Template::parse(s).expect_err(s);
        let e = err("{name}");
        assert_eq!((e.offset, e.reason), (1, "named arguments are not supported"));
        assert_eq!(e.to_string(), "invalid format string at byte 1: named arguments are not supported");
        assert_eq!(err("{").offset, 1);
        assert_eq!(err("{").reason, "expected `}` but string was terminated");
        assert_eq!(err("}").offset, 0);
        assert_eq!(err("ab}c").offset, 2);
        assert_eq!(err("{:q}"), TemplateError { offset: 2, reason: "unknown format trait" });
        assert_eq!(err("{0:.x$}").offset, 4);
        assert_eq!(err("{0:.x$}").reason, "named width or precision arguments are not supported");
        assert_eq!(err("{:width$}").offset, 2);
        assert_eq!(err("ab {x} {}").offset, 4);
        assert_eq!(err("{:p}").offset, 2);
        assert_eq!(err("{:65536}").offset, 2);
        assert_eq!(err("{65536}").offset, 1);
        assert_eq!(err("{:.65536}").offset, 3);
        // Strings rustc rejects (checked against rustc 1.95).
        for s in [
            "{ 0}", "{:+-}", "{0x}", "{:?#}", "{:?x}", "{:*}", "{:#+}", "{:0#}", "{: x}", "{:.-1}", "{_}", "{:_}",
            "{:ee}", "{:x$}", "{:<", "{:}>", "{0:é}", "{é}", "{0:.*$}", "x{{{",
        ] {
            assert!(Template::parse(s).is_err(), "{s:?} should be rejected");
        }
        let e: Box<dyn std::error::Error> = Box::new(err("}"));
        assert!(e.to_string().contains("byte 0"));
    }

    #[test]
    fn lossy_keeps_bad_pieces_as_text() {
        let v = [Value::U8(1), Value::U8(2)];
        assert_eq!(lossy("a {name} b {}", &v), "a {name} b 1");
        assert_eq!(lossy("} {:q} {} {", &v), "} {:q} 1 {");
        assert_eq!(lossy("{ {}", &v), "{ 1");
        assert_eq!(lossy("{:.*q} {}", &v), "{:.*q} 1", "a failed `.*` consumes nothing");
        assert_eq!(lossy("{0:.x$}{1}", &v), "{0:.x$}2");
        assert_eq!(Template::parse_lossy("{x} {}").arg_count(), 1);
    }

    /// xorshift64*: deterministic, no dependencies.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn lossy_parse_and_render_never_panic() {
        const ALPHABET: &[char] = &[
            '{', '}', '{', '}', ':', ':', '<', '>', '^', '+', '-', '#', '0', '0', '1', '2', '9', '.', '$', '*', '?',
            'x', 'X', 'e', 'E', 'o', 'b', 'p', 'q', 'a', '_', ' ', 'é', '\n', '日',
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let pool = [
            Value::U8(3),
            Value::U64(70_000),
            Value::U16(2),
            Value::I32(-7),
            Value::F64(-1.5),
            Value::F32(f32::NAN),
            Value::Str("ünï"),
            Value::Char('\n'),
            Value::Bool(true),
            Value::Bytes(&[1, 2]),
            Value::Display("d"),
            Value::Invalid,
        ];
        let mut s = String::new();
        let mut out = String::new();
        let mut accepted = 0;
        for case in 0..100_000 {
            s.clear();
            for _ in 0..rng.below(20) {
                let c = if rng.below(8) == 0 {
                    // Any char at all, now and then.
                    char::from_u32(rng.next() as u32 % 0x11_0000).unwrap_or('\u{fffd}')
                } else {
                    ALPHABET[rng.below(ALPHABET.len())]
                };
                s.push(c);
            }
            let args: Vec<Value<'_>> = (0..rng.below(5)).map(|_| pool[rng.below(pool.len())]).collect();
            let t = Template::parse_lossy(&s);
            out.clear();
            t.render(&args, &mut out);
            if let Ok(strict) = Template::parse(&s) {
                accepted += 1;
                let mut out2 = String::new();
                strict.render(&args, &mut out2);
                assert_eq!(out, out2, "case {case}: {s:?}");
                assert_eq!(strict.arg_count(), t.arg_count(), "case {case}: {s:?}");
            } else if !s.contains(['{', '}']) {
                panic!("case {case}: {s:?} has no braces yet was rejected");
            }
            // Bytes as text too (lossily decoded), to reach odd code points next to braces.
            let bytes: Vec<u8> = (0..rng.below(12)).map(|_| rng.next() as u8 | 0x20).collect();
            let _ = Template::parse_lossy(&String::from_utf8_lossy(&bytes)).arg_count();
        }
        assert!(accepted > 10_000, "{accepted}");
    }

    #[test]
    fn render_never_panics_with_mismatched_args() {
        let templates = ["{} {:x} {:>1$} {:.*} {2:#?} {:e} {:08.3} {:é^+#012.5$b}", "{0:?} {0:X?} {3:.2$}", "{:#?}"];
        let kinds = [
            Value::U8(0),
            Value::I128(i128::MIN),
            Value::F64(f64::NAN),
            Value::Bool(false),
            Value::Char('é'),
            Value::Str(""),
            Value::Bytes(&[]),
            Value::Bytes(&[255]),
            Value::Debug("dbg"),
            Value::U128(u128::MAX),
            Value::Invalid,
        ];
        let mut out = String::new();
        for t in templates.map(|s| Template::parse(s).unwrap()) {
            for n in 0..=6 {
                for (i, _) in kinds.iter().enumerate() {
                    let args: Vec<_> = (0..n).map(|j| kinds[(i + j * 3) % kinds.len()]).collect();
                    out.clear();
                    t.render(&args, &mut out);
                    assert!(n >= t.arg_count() || out.contains("{?}"), "{out:?}");
                }
            }
        }
    }

    #[test]
    fn absurd_widths_are_cut_at_the_limit_and_sane_ones_are_not() {
        // 7000 × 65535 bytes of padding asked for: cut at MAX_LEN.
        let t = Template::parse(&"{0:65535}".repeat(7000)).unwrap();
        let mut out = String::from("prefix ");
        assert!(t.render(&[Value::U8(1)], &mut out));
        assert_eq!(out.len(), "prefix ".len() + Template::MAX_LEN);
        // A multi-byte fill is cut at a char boundary.
        let t = Template::parse(&"{0:é>65535}".repeat(100)).unwrap();
        out.clear();
        assert!(t.render(&[Value::U8(1)], &mut out));
        assert!(out.len() <= Template::MAX_LEN && out.len() + 2 > Template::MAX_LEN);
        // Every element of a byte slice padded to 65535: stops after the element that passes.
        let bytes = vec![7u8; 60_000];
        let t = Template::parse("{:65535?}").unwrap();
        out.clear();
        assert!(t.render(&[Value::Bytes(&bytes)], &mut out));
        assert_eq!(out.len(), Template::MAX_LEN);
        // The largest sane outputs of a 64 KiB record are far below the limit, and unchanged.
        let t = Template::parse("{:#?}").unwrap();
        out.clear();
        assert!(!t.render(&[Value::Bytes(&bytes)], &mut out));
        assert_eq!(out, format!("{:#?}", &bytes[..]));
        let t = Template::parse("{0:65535} {0:>65535}").unwrap();
        out.clear();
        assert!(!t.render(&[Value::Str("x")], &mut out));
        assert_eq!(out, format!("{0:65535} {0:>65535}", "x"));
    }

    #[test]
    fn render_appends() {
        let t = Template::parse("{:>4}|").unwrap();
        let mut out = String::from("pre:");
        t.render(&[Value::U8(7)], &mut out);
        t.render(&[Value::Str("ab")], &mut out);
        assert_eq!(out, "pre:   7|  ab|");
    }
}
