//! Runtime interpreter for `std::fmt` format strings: [`Template`].
//!
//! Offline tools (the trace-file decoder) have a callsite's format *string* and the decoded
//! [`Value`]s, but not the `format_args!` the program compiled. A [`Template`] is that format
//! string parsed once at run time; [`Template::render`] then produces, for every spec that
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
//! What each value kind does with a spec was checked against `format!` on this toolchain
//! (the tests below compare tens of thousands of specs per kind):
//!
//! | value | traits | width, fill, align | precision | `+`, `#`, `0` |
//! |---|---|---|---|---|
//! | integers | all ten | padded, right by default | only `e`/`E` use it | std's own, incl. the prefix; with `0` and a width std pads sign-aware with zeros and ignores fill and align (delegated to std with the width) |
//! | floats | `{}` `?` `x?` `X?` `e` `E` | as integers | std's own | as integers (`NaN` and `inf` are zero padded too) |
//! | `str`, `char`, `bool`, `{}` | `{}` (and `?` for `bool`) | padded, left by default | maximum number of chars | ignored |
//! | `str`, `char`, `?` | `?` `x?` `X?` | **ignored**: quoted and escaped, never padded | ignored | ignored |
//! | `&[u8]` | `?` `x?` `X?` | applied to **each element**, the list itself is never padded | ignored (elements are `u8`) | per element; `#` also pretty-prints the list (indenting like std's `PadAdapter`, even when the fill is `'\n'`) |
//! | `Display`, `Debug`, `Error` captures, `Invalid` | all ten | ignored: verbatim text | ignored | ignored |
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

use std::fmt::{self, Write as _};

use crate::value::Value;

/// What a value renders as when it is missing or does not support the requested trait.
const UNSUPPORTED: &str = "{?}";

/// 64 spaces: the padding chunk for the default fill.
const SPACES: &str = "                                                                ";

/// A parsed format string. Parse once per callsite, render many times.
///
/// Built by [`Template::parse`] (strict) or [`Template::parse_lossy`] (never fails); rendered
/// with [`Template::render`]. See the [module documentation](self) for the supported syntax
/// and the exact emulation rules.
#[derive(Debug, Clone)]
pub struct Template {
    /// Literal text and arguments, in order; adjacent literal text is merged.
    pieces: Vec<Piece>,
    /// Highest argument index referenced, plus one.
    arg_count: usize,
}

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
        write!(
            f,
            "invalid format string at byte {}: {}",
            self.offset, self.reason
        )
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
        matches!(
            self,
            Trait::Debug | Trait::DebugLowerHex | Trait::DebugUpperHex
        )
    }
}

impl Template {
    /// Strict parse: `Err` for malformed strings and for unsupported features (named arguments
    /// `{name}`, implicit captures, `{:width$}` or `{:.prec$}` with a name, `{:p}`).
    ///
    /// Accepts exactly the strings `format!` accepts, apart from those features.
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
            // `parse_impl` recovers from every error in lossy mode; keep the text regardless.
            Err(_) => Template {
                pieces: vec![Piece::Lit(fmt.into())],
                arg_count: 0,
            },
        }
    }

    /// Number of positional arguments the template consumes (max index + 1, counting `.*`
    /// and `N$` references).
    pub fn arg_count(&self) -> usize {
        self.arg_count
    }

    /// Appends the formatted output to `out`.
    ///
    /// Never panics: a missing argument renders as `{?}`, a value that does not support the
    /// requested trait (e.g. `{:x}` on a Str) renders as `{?}` too, and a width/precision
    /// argument that is not an unsigned integer (or is missing, or exceeds `u16::MAX`) is
    /// ignored. Allocates nothing beyond growing `out`.
    pub fn render(&self, args: &[Value<'_>], out: &mut String) {
        for piece in &self.pieces {
            match piece {
                Piece::Lit(s) => out.push_str(s),
                Piece::Arg(spec) => render_arg(spec, args, out),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

fn parse_impl(fmt: &str, lossy: bool) -> Result<Template, TemplateError> {
    let mut p = Parser {
        s: fmt,
        pos: 0,
        curarg: 0,
    };
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
                return Err(TemplateError {
                    offset: brace,
                    reason: "unmatched `}` found",
                });
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
            Ok(spec) => {
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
    Ok(Template { pieces, arg_count })
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
            return Ok(if self.consume('$') {
                Count::Arg(usize::from(i))
            } else {
                Count::Is(i)
            });
        }
        let start = self.pos;
        if !self.word().is_empty() && self.consume('$') {
            return Err(self.err(
                start,
                "named width or precision arguments are not supported",
            ));
        }
        self.pos = start;
        Ok(Count::Implied)
    }

    /// Parses what follows a `{` up to and including its `}`.
    fn argument(&mut self) -> Result<Spec, TemplateError> {
        let position = match self.integer()? {
            Some(i) => Some(usize::from(i)),
            None => match self.peek() {
                Some(c) if is_id_start(c) => {
                    return Err(self.err(self.pos, "named arguments are not supported"))
                }
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

fn render_arg(spec: &Spec, args: &[Value<'_>], out: &mut String) {
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
            if matches!(ty, Trait::Display | Trait::LowerExp | Trait::UpperExp)
                || ty.is_debug() =>
        {
            numeric(v, spec, width, precision, out)
        }
        Value::Str(s) if ty == Trait::Display => pad_str(s, spec, width, precision, out),
        Value::Char(c) if ty == Trait::Display => {
            pad_str(c.encode_utf8(&mut [0; 4]), spec, width, precision, out)
        }
        Value::Bool(b) if ty == Trait::Display || ty.is_debug() => pad_str(
            if b { "true" } else { "false" },
            spec,
            width,
            precision,
            out,
        ),
        // Quoted and escaped; std ignores every option here.
        Value::Str(_) | Value::Char(_) if ty.is_debug() => {
            let start = out.len();
            if write!(out, "{v:?}").is_err() {
                out.truncate(start);
                out.push_str(UNSUPPORTED);
            }
        }
        Value::Bytes(b) if ty.is_debug() => bytes_debug(b, spec, width, precision, out),
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
    let (s, chars) = match precision {
        Some(p) => match s.char_indices().nth(p) {
            Some((end, _)) => (&s[..end], p),
            None => (
                s,
                if width.is_some() {
                    s.chars().count()
                } else {
                    0
                },
            ),
        },
        None => (
            s,
            if width.is_some() {
                s.chars().count()
            } else {
                0
            },
        ),
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
fn numeric(
    v: &Value<'_>,
    spec: &Spec,
    width: Option<usize>,
    precision: Option<usize>,
    out: &mut String,
) {
    let start = out.len();
    // With `0` and a width std pads sign-aware with zeros and ignores fill and alignment.
    let zero_width = if spec.zero { width } else { None };
    if delegate(
        out,
        v,
        spec.ty,
        spec.plus,
        spec.alternate,
        zero_width,
        precision,
    )
    .is_err()
    {
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
fn bytes_debug(
    bytes: &[u8],
    spec: &Spec,
    width: Option<usize>,
    precision: Option<usize>,
    out: &mut String,
) {
    out.push('[');
    if spec.alternate {
        if !bytes.is_empty() {
            out.push('\n');
        }
        for &b in bytes {
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
    let align = if align == Align::Unknown {
        default
    } else {
        align
    };
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
                write!(
                    $out,
                    concat!("{:", $flags, "0w$.p$", $ty, "}"),
                    $v,
                    w = w,
                    p = p
                )
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
