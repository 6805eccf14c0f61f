//! What a request must pass before and around async-graphql, and the codes of the errors
//! the engine itself raises, set where those errors are made (never found by matching
//! their text):
//!
//! - before parsing: a linear scan of the query text refuses nesting (of selection sets,
//!   list and object literals, parentheses) deeper than `Limits::max_nesting`; the
//!   parser, the validation rules and the value conversions all recurse, and a document
//!   nested a few thousand deep overflowed a runtime thread's stack and aborted the
//!   process. Variables and extensions (JSON, which serde_json already refuses past 128
//!   levels) are held to the same depth.
//! - parsing is done by the handler (GRAPHQL_PARSE);
//! - the `Limiter` extension codes what async-graphql finds while preparing the request:
//!   recursion and directive limits (QUERY_LIMIT), the validation rules
//!   (GRAPHQL_VALIDATION, or VALIDATION with `field` for a wrong argument value), depth
//!   and complexity (measured by async-graphql's validation, limited here: QUERY_LIMIT),
//!   and input coercion while executing (VALIDATION).
use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Pos, Positioned, Response, ServerError, ServerResult, ValidationResult, Value, Variables};

pub const QUERY_LIMIT: &str = "QUERY_LIMIT";
pub const GRAPHQL_PARSE: &str = "GRAPHQL_PARSE";
pub const GRAPHQL_VALIDATION: &str = "GRAPHQL_VALIDATION";
pub const VALIDATION: &str = "VALIDATION";

/// A ServerError with a stable code.
pub fn coded(mut e: ServerError, code: &str) -> ServerError {
    e.extensions.get_or_insert_with(Default::default).set("code", code);
    e
}

pub fn has_code(e: &ServerError) -> bool {
    e.extensions.as_ref().is_some_and(|x| x.get("code").is_some())
}

pub fn error(code: &str, message: impl Into<String>) -> ServerError {
    coded(ServerError::new(message, None), code)
}

// ---- before parsing --------------------------------------------------------------------

/// What the scan of a query text found.
#[derive(Debug, PartialEq, Eq)]
pub struct Scan {
    /// Deepest nesting of `{`, `[` and `(` outside strings and comments (counted until
    /// `stop_at` is passed).
    pub depth: usize,
    /// Whether anything but white space, commas and comments was seen.
    pub has_tokens: bool,
}

/// One pass over the text, no recursion, no allocation. Brackets inside strings
/// ("...", with escapes), block strings ("""...""") and comments (# to the end of the
/// line) do not count. Stops once the depth passes `stop_at`.
pub fn scan(query: &str, stop_at: usize) -> Scan {
    let b = query.as_bytes();
    let (mut i, mut depth, mut deepest, mut has_tokens) = (0, 0usize, 0usize, false);
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                has_tokens = true;
                i += 3;
                // A block string ends at the first """ not escaped as \""".
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    i += if b[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 3;
                continue;
            }
            b'"' => {
                has_tokens = true;
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            b'{' | b'[' | b'(' => {
                has_tokens = true;
                depth += 1;
                if depth > deepest {
                    deepest = depth;
                    if deepest > stop_at {
                        break;
                    }
                }
            }
            b'}' | b']' | b')' => {
                has_tokens = true;
                depth = depth.saturating_sub(1);
            }
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {}
            // The byte order mark is ignored by the grammar, like white space.
            0xEF if b[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => {
                i += 3;
                continue;
            }
            _ => has_tokens = true,
        }
        i += 1;
    }
    Scan { depth: deepest, has_tokens }
}

/// Depth of a value (a scalar is 0, `[1]` is 1), walked without recursion; stops once
/// past `stop_at`.
pub fn value_depth<'a>(values: impl IntoIterator<Item = &'a Value>, stop_at: usize) -> usize {
    let mut stack: Vec<(&Value, usize)> = values.into_iter().map(|v| (v, 0)).collect();
    let mut deepest = 0;
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        if deepest > stop_at {
            break;
        }
        match v {
            Value::List(items) => stack.extend(items.iter().map(|x| (x, d + 1))),
            Value::Object(fields) => stack.extend(fields.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// The checks a request passes before its document is parsed: nesting of the query text,
/// of the variables and of the extensions; an empty document.
pub fn check_before_parsing(req: &async_graphql::Request, max_nesting: usize) -> Result<(), ServerError> {
    let s = scan(&req.query, max_nesting);
    if s.depth > max_nesting {
        return Err(error(QUERY_LIMIT, format!("the document is nested more than {max_nesting} levels deep")));
    }
    if !s.has_tokens {
        return Err(error(GRAPHQL_VALIDATION, "the document contains no operation"));
    }
    let vars: &Variables = &req.variables;
    // A variable's value counts from 1 (its list or object), like a literal inside an argument.
    if value_depth(vars.values(), max_nesting) + 1 > max_nesting
        || value_depth(req.extensions.values(), max_nesting) + 1 > max_nesting
    {
        return Err(error(
            QUERY_LIMIT,
            format!("variables or extensions are nested more than {max_nesting} levels deep"),
        ));
    }
    Ok(())
}

// ---- after parsing ---------------------------------------------------------------------

/// Marks a request whose selected operation reads only introspection fields: it may be as
/// deep as `Limits::introspection_depth` (graphql-js's introspection query is 13 deep).
pub struct Introspective;

/// The query text, for coding validation errors (re-parsed only when validation fails).
pub struct QueryText(pub Arc<str>);

/// The selected operation, with async-graphql's rules for choosing it; an error when the
/// operation name is unknown or missing among several.
pub fn selected_operation<'a>(
    doc: &'a ExecutableDocument,
    name: Option<&str>,
) -> Result<&'a Positioned<async_graphql::parser::types::OperationDefinition>, ServerError> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Ok(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .get(name)
            .ok_or_else(|| error(GRAPHQL_VALIDATION, format!("the document has no operation named \"{name}\""))),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().ok_or_else(|| error(GRAPHQL_VALIDATION, "the document contains no operation"))
        }
        (DocumentOperations::Multiple(_), None) => {
            Err(error(GRAPHQL_VALIDATION, "the document has several operations: name the one to run (operationName)"))
        }
    }
}

/// A required variable (non-null, no default) without a value: refused as bad input
/// (VALIDATION, the variable as `field`), as a wrong value is.
pub fn check_required_variables(
    op: &async_graphql::parser::types::OperationDefinition,
    variables: &Variables,
) -> Result<(), ServerError> {
    for v in &op.variable_definitions {
        let v = &v.node;
        let given = variables.get(&v.name.node).is_some_and(|x| *x != Value::Null);
        if !v.var_type.node.nullable && v.default_value.is_none() && !given {
            let mut e = error(VALIDATION, format!("variable ${} is required", v.name.node));
            e.extensions.get_or_insert_with(Default::default).set("field", v.name.node.as_str());
            return Err(e);
        }
    }
    Ok(())
}

/// Whether an operation is a query of introspection fields only.
pub fn introspection_only(op: &async_graphql::parser::types::OperationDefinition) -> bool {
    op.ty == OperationType::Query
        && !op.selection_set.node.items.is_empty()
        && op.selection_set.node.items.iter().all(|s| match &s.node {
            Selection::Field(f) => f.node.name.node.starts_with("__"),
            _ => false,
        })
}

/// Refuses documents with too many field selections or aliases (fragments counted at
/// each use), before any resolver runs: the depth and complexity limits alone let a
/// client ask for the same expensive field under hundreds of aliases. Runs on the
/// request's parsed document (kept for execution, so the query is parsed once), not as a
/// schema extension hook on every field.
pub fn check_shape(doc: &ExecutableDocument, max_fields: usize, max_aliases: usize) -> Result<(), ServerError> {
    let mut t = Tally { fields: 0, aliases: 0, max_fields };
    for (_, op) in doc.operations.iter() {
        tally(doc, &op.node.selection_set.node, &mut t, 0);
    }
    if t.fields > max_fields {
        return Err(error(QUERY_LIMIT, format!("query selects more than {max_fields} fields and fragments")));
    }
    if t.aliases > max_aliases {
        return Err(error(QUERY_LIMIT, format!("query uses {} aliases, at most {max_aliases} allowed", t.aliases)));
    }
    Ok(())
}

struct Tally {
    fields: usize,
    aliases: usize,
    max_fields: usize,
}

fn tally(doc: &ExecutableDocument, set: &SelectionSet, t: &mut Tally, depth: usize) {
    for sel in &set.items {
        if depth > 64 || t.fields > t.max_fields {
            return;
        }
        match &sel.node {
            Selection::Field(f) => {
                t.fields += 1;
                if f.node.alias.is_some() {
                    t.aliases += 1;
                }
                tally(doc, &f.node.selection_set.node, t, depth + 1);
            }
            // Spreads and inline fragments count against the budget too, so expansion stops
            // after `max_fields` steps even for a document of fragments spreading each
            // other (a cycle is rejected by validation afterwards; this must not hang first).
            Selection::InlineFragment(fr) => {
                t.fields += 1;
                tally(doc, &fr.node.selection_set.node, t, depth + 1);
            }
            Selection::FragmentSpread(sp) => {
                t.fields += 1;
                if let Some(fr) = doc.fragments.get(&sp.node.fragment_name.node) {
                    tally(doc, &fr.node.selection_set.node, t, depth + 1);
                }
            }
        }
    }
}

// ---- the extension ---------------------------------------------------------------------

/// Limits depth and complexity from async-graphql's own measure of them, and codes the
/// errors of each stage it wraps. The schema is built without async-graphql's depth and
/// complexity limits, whose errors could only be told apart by their text.
pub struct Limiter {
    pub max_depth: usize,
    pub introspection_depth: usize,
    pub max_complexity: usize,
}

impl ExtensionFactory for Limiter {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimiterExtension {
            max_depth: self.max_depth,
            introspection_depth: self.introspection_depth,
            max_complexity: self.max_complexity,
        })
    }
}

struct LimiterExtension {
    max_depth: usize,
    introspection_depth: usize,
    max_complexity: usize,
}

#[async_trait::async_trait]
impl Extension for LimiterExtension {
    /// The handler parsed the document already; what fails here are async-graphql's
    /// recursion-depth and directive-count limits.
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|e| if has_code(&e) { e } else { coded(e, QUERY_LIMIT) })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        match next.run(ctx).await {
            Ok(r) => {
                let max_depth =
                    if ctx.data_opt::<Introspective>().is_some() { self.introspection_depth } else { self.max_depth };
                if r.complexity > self.max_complexity {
                    return Err(vec![error(
                        QUERY_LIMIT,
                        format!("query is too complex ({}, at most {})", r.complexity, self.max_complexity),
                    )]);
                }
                if r.depth > max_depth {
                    return Err(vec![error(
                        QUERY_LIMIT,
                        format!("query is nested too deep ({} levels, at most {max_depth})", r.depth),
                    )]);
                }
                Ok(r)
            }
            Err(errors) => Err(code_validation_errors(ctx, errors)),
        }
    }

    /// The checking schema stops here: a request that passed parsing and validation is
    /// executed by the executing schema, which has no extension (see `code_execution_errors`).
    async fn execute(
        &self,
        _ctx: &ExtensionContext<'_>,
        _operation_name: Option<&str>,
        _next: NextExecute<'_>,
    ) -> Response {
        Response::default()
    }
}

/// Errors raised while executing that carry no code come from async-graphql's input
/// coercion (an argument or variable that does not convert to its type) or from an input
/// validator: every resolver error is an AppError with its code.
pub fn code_execution_errors(resp: &mut Response) {
    for e in resp.errors.iter_mut().filter(|e| !has_code(e)) {
        e.extensions.get_or_insert_with(Default::default).set("code", VALIDATION);
    }
}

/// The validation rules' errors: GRAPHQL_VALIDATION, except a wrong value for an argument
/// the field has (reported at that argument's name, which no other rule does for a known,
/// unique argument): VALIDATION with the argument as `field`.
fn code_validation_errors(ctx: &ExtensionContext<'_>, errors: Vec<ServerError>) -> Vec<ServerError> {
    let sites = ctx
        .data_opt::<QueryText>()
        .and_then(|q| async_graphql::parser::parse_query(&*q.0).ok())
        .map(|doc| argument_sites(&doc, ctx))
        .unwrap_or_default();
    errors
        .into_iter()
        .map(|e| {
            if has_code(&e) {
                return e;
            }
            let site = e.locations.first().and_then(|p| sites.iter().find(|(at, _)| at == p));
            match site {
                Some((_, name)) => {
                    let name = name.clone();
                    let mut e = coded(e, VALIDATION);
                    e.extensions.get_or_insert_with(Default::default).set("field", name);
                    e
                }
                None => coded(e, GRAPHQL_VALIDATION),
            }
        })
        .collect()
}

/// Positions of the arguments of a document whose name the schema knows (on some field
/// or directive) and that appear once among their field's or directive's arguments.
fn argument_sites(doc: &ExecutableDocument, ctx: &ExtensionContext<'_>) -> Vec<(Pos, String)> {
    let registry = &ctx.schema_env.registry;
    let mut known: HashSet<&str> = HashSet::new();
    for ty in registry.types.values() {
        if let Some(fields) = ty.fields() {
            for f in fields.values() {
                known.extend(f.args.keys().map(String::as_str));
            }
        }
    }
    for d in registry.directives.values() {
        known.extend(d.args.keys().map(String::as_str));
    }
    let mut out = Vec::new();
    let mut push = |args: Vec<&Positioned<async_graphql::Name>>| {
        for name in &args {
            let once = args.iter().filter(|n| n.node == name.node).count() == 1;
            if once && known.contains(name.node.as_str()) {
                out.push((name.pos, name.node.to_string()));
            }
        }
    };
    let mut sets: Vec<&SelectionSet> = Vec::new();
    let mut directives: Vec<&[Positioned<Directive>]> = Vec::new();
    for (_, op) in doc.operations.iter() {
        sets.push(&op.node.selection_set.node);
        directives.push(&op.node.directives);
    }
    for fr in doc.fragments.values() {
        sets.push(&fr.node.selection_set.node);
        directives.push(&fr.node.directives);
    }
    // Without recursion: the document passed the nesting scan, but a stack costs nothing.
    while let Some(set) = sets.pop() {
        for sel in &set.items {
            match &sel.node {
                Selection::Field(f) => {
                    push(f.node.arguments.iter().map(|(n, _)| n).collect());
                    directives.push(&f.node.directives);
                    sets.push(&f.node.selection_set.node);
                }
                Selection::InlineFragment(fr) => {
                    directives.push(&fr.node.directives);
                    sets.push(&fr.node.selection_set.node);
                }
                Selection::FragmentSpread(sp) => directives.push(&sp.node.directives),
            }
        }
    }
    for ds in directives {
        for d in ds {
            push(d.node.arguments.iter().map(|(n, _)| n).collect());
        }
    }
    out
}

/// The status and Retry-After of a GraphQL response: 429 when an error is RATE_LIMITED.
pub fn retry_after(resp: &Response) -> Option<u64> {
    resp.errors
        .iter()
        .filter_map(|e| e.extensions.as_ref())
        .filter(|x| matches!(x.get("code"), Some(Value::String(c)) if c == "RATE_LIMITED"))
        .map(|x| match x.get("retryAfterSeconds") {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(1),
            _ => 1,
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_counts_brackets_outside_strings_and_comments() {
        assert_eq!(scan("{a(b:[[1]])}", 64).depth, 4);
        assert_eq!(scan("{a(b:\"[[[[\")}", 64).depth, 2);
        assert_eq!(scan("{a(b:\"\\\"[[[[\")}", 64).depth, 2);
        assert_eq!(scan("{a(b:\"\"\"[[[[ \\\"\"\" [[ \"\"\")}", 64).depth, 2);
        assert_eq!(scan("# {{{{{{\n{a}", 64).depth, 1);
        assert!(!scan("  # only a comment\n ,", 64).has_tokens);
        assert!(scan("x", 64).has_tokens);
        let deep = format!("{{a(b:{}{})}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(scan(&deep, 64).depth, 65);
    }

    #[test]
    fn value_depth_is_measured_without_recursion() {
        let mut v = Value::Null;
        for _ in 0..100_000 {
            v = Value::List(vec![v]);
        }
        assert_eq!(value_depth([&v], 64), 65);
        assert_eq!(value_depth([&Value::List(vec![Value::Null])], 64), 1);
        // Dropping a value this deep recurses: take it apart by hand.
        let mut v = v;
        while let Value::List(mut items) = v {
            v = items.pop().unwrap_or(Value::Null);
        }
    }
}
