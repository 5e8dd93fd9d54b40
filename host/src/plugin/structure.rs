//! The structural check an upload passes before anything compiles it: counts over every core
//! module nested in the component, each against an operator-set ceiling.
//!
//! Compilation time and memory grow with what is counted here (a million empty functions or
//! one function of twenty thousand locals take a compiler seconds and gigabytes), while
//! counting takes one pass over the bytes; so a bomb is refused in milliseconds, before a
//! compiler ever sees it.

use std::fmt;

use wasmparser::{Operator, Parser, Payload};

use super::PluginError;
use crate::config::Limits;

/// The ceilings, per component (functions, code, modules) or per function (body, locals,
/// nesting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructureLimits {
    /// Functions defined, over every core module.
    pub functions: u64,
    /// Bytes of function bodies, over every core module.
    pub code_bytes: u64,
    /// Bytes of the largest function body.
    pub function_bytes: u64,
    /// Locals declared by one function (parameters not counted).
    pub locals: u64,
    /// Blocks, loops, ifs and trys open at once in one function.
    pub nesting: u64,
    /// Core modules in the component, nested ones included.
    pub modules: u64,
}

impl StructureLimits {
    pub fn from_config(limits: &Limits) -> Self {
        Self {
            functions: limits.plugin_max_functions,
            code_bytes: limits.plugin_max_code_bytes,
            function_bytes: limits.plugin_max_function_bytes,
            locals: limits.plugin_max_locals,
            nesting: limits.plugin_max_nesting,
            modules: limits.plugin_max_modules,
        }
    }
}

impl Default for StructureLimits {
    fn default() -> Self {
        Self::from_config(&Limits::default())
    }
}

/// Which ceiling a component went past; each has its own API code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructureLimit {
    Functions,
    CodeBytes,
    FunctionBytes,
    Locals,
    Nesting,
    Modules,
}

impl StructureLimit {
    /// Stable code for the API: names the limit.
    pub fn code(self) -> &'static str {
        match self {
            StructureLimit::Functions => "too_many_functions",
            StructureLimit::CodeBytes => "code_too_large",
            StructureLimit::FunctionBytes => "function_too_large",
            StructureLimit::Locals => "too_many_locals",
            StructureLimit::Nesting => "nesting_too_deep",
            StructureLimit::Modules => "too_many_modules",
        }
    }

    /// The operator's setting that raises it.
    pub fn setting(self) -> &'static str {
        match self {
            StructureLimit::Functions => "plugin_max_functions",
            StructureLimit::CodeBytes => "plugin_max_code_bytes",
            StructureLimit::FunctionBytes => "plugin_max_function_bytes",
            StructureLimit::Locals => "plugin_max_locals",
            StructureLimit::Nesting => "plugin_max_nesting",
            StructureLimit::Modules => "plugin_max_modules",
        }
    }
}

impl fmt::Display for StructureLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StructureLimit::Functions => "functions",
            StructureLimit::CodeBytes => "bytes of code",
            StructureLimit::FunctionBytes => "bytes in one function body",
            StructureLimit::Locals => "locals in one function",
            StructureLimit::Nesting => "nested blocks in one function",
            StructureLimit::Modules => "core modules",
        })
    }
}

/// What the check counted, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Structure {
    pub functions: u64,
    pub code_bytes: u64,
    pub largest_function_bytes: u64,
    pub most_locals: u64,
    pub deepest_nesting: u64,
    pub modules: u64,
}

/// Counts the component's structure, stopping at the first ceiling passed. Malformed bytes
/// are `InvalidComponent`.
pub fn check(wasm: &[u8], limits: &StructureLimits) -> Result<Structure, PluginError> {
    let mut seen = Structure::default();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::ModuleSection { .. } => {
                seen.modules += 1;
                over(StructureLimit::Modules, seen.modules, limits.modules)?;
            }
            // Counted before any body is read: a million functions is refused from its header.
            Payload::CodeSectionStart { count, size, .. } => {
                seen.functions += u64::from(count);
                over(StructureLimit::Functions, seen.functions, limits.functions)?;
                seen.code_bytes += u64::from(size);
                over(StructureLimit::CodeBytes, seen.code_bytes, limits.code_bytes)?;
            }
            Payload::CodeSectionEntry(body) => check_body(&body, limits, &mut seen)?,
            _ => {}
        }
    }
    Ok(seen)
}

fn check_body(
    body: &wasmparser::FunctionBody<'_>,
    limits: &StructureLimits,
    seen: &mut Structure,
) -> Result<(), PluginError> {
    let bytes = body.range().len() as u64;
    seen.largest_function_bytes = seen.largest_function_bytes.max(bytes);
    over(StructureLimit::FunctionBytes, bytes, limits.function_bytes)?;

    // Declared counts, not entries: one entry may declare four billion locals in five bytes.
    let mut locals_reader = body.get_locals_reader().map_err(invalid)?;
    let mut locals = 0u64;
    for _ in 0..locals_reader.get_count() {
        let (count, _) = locals_reader.read().map_err(invalid)?;
        locals += u64::from(count);
        over(StructureLimit::Locals, locals, limits.locals)?;
    }
    seen.most_locals = seen.most_locals.max(locals);

    let mut operators = body.get_operators_reader().map_err(invalid)?;
    let mut depth = 0u64;
    while !operators.eof() {
        match operators.read().map_err(invalid)? {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Try { .. }
            | Operator::TryTable { .. } => {
                depth += 1;
                seen.deepest_nesting = seen.deepest_nesting.max(depth);
                over(StructureLimit::Nesting, depth, limits.nesting)?;
            }
            Operator::End | Operator::Delegate { .. } => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn over(limit: StructureLimit, found: u64, max: u64) -> Result<(), PluginError> {
    if found > max { Err(PluginError::Structure { limit, found, max }) } else { Ok(()) }
}

fn invalid(error: wasmparser::BinaryReaderError) -> PluginError {
    PluginError::InvalidComponent(error.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(module_body: &str) -> Vec<u8> {
        wat::parse_str(format!(
            "(component (core module {module_body}) (core module) (core instance (instantiate 0)))"
        ))
        .expect("wat")
    }

    fn refused(wasm: &[u8], limits: &StructureLimits) -> (StructureLimit, u64, u64) {
        match check(wasm, limits) {
            Err(PluginError::Structure { limit, found, max }) => (limit, found, max),
            other => panic!("expected a structure error, got {other:?}"),
        }
    }

    #[test]
    fn counts_what_it_sees() {
        let wasm = component("(func (local i32 i64) (block (loop (br 1)))) (func)");
        let seen = check(&wasm, &StructureLimits::default()).expect("within limits");
        assert_eq!(seen.functions, 2);
        assert_eq!(seen.most_locals, 2);
        assert_eq!(seen.deepest_nesting, 2);
        assert_eq!(seen.modules, 2);
    }

    #[test]
    fn each_ceiling_is_named() {
        let wasm = component("(func (local i32 i32 i32) (block (block (block)))) (func) (func)");
        let cases = [
            (StructureLimits { functions: 2, ..Default::default() }, StructureLimit::Functions),
            (StructureLimits { locals: 2, ..Default::default() }, StructureLimit::Locals),
            (StructureLimits { nesting: 2, ..Default::default() }, StructureLimit::Nesting),
            (StructureLimits { modules: 1, ..Default::default() }, StructureLimit::Modules),
            (StructureLimits { function_bytes: 4, ..Default::default() }, StructureLimit::FunctionBytes),
            (StructureLimits { code_bytes: 4, ..Default::default() }, StructureLimit::CodeBytes),
        ];
        for (limits, expected) in cases {
            let (limit, found, max) = refused(&wasm, &limits);
            assert_eq!(limit, expected);
            assert!(found > max, "{limit:?}: {found} > {max}");
        }
    }

    #[test]
    fn garbage_after_the_header_is_invalid() {
        let mut wasm = component("(func)");
        wasm.truncate(wasm.len() - 3);
        assert!(matches!(check(&wasm, &StructureLimits::default()), Err(PluginError::InvalidComponent(_))));
    }
}
