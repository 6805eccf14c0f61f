//! The one check every input of a request passes, before any resolver runs: every string
//! (argument literals, nested input objects and lists, variables' default values, the
//! variables JSON) obeys `text`'s rule, and every value of a date scalar obeys `dates`'.
//!
//! Why here and not in each resolver or in input newtypes: a check on the request cannot
//! be forgotten by a new resolver or a new input field, covers strings inside JSON values
//! too, and names the argument or input field that failed (`extensions.field`), which a
//! scalar's parse cannot (async-graphql drops the field name when an input object's field
//! fails). The walk is typed by the schema's own SDL, read once: a date rule applies only
//! where the schema says a date goes, so a title that reads "1999-01-01" stays a title.
//!
//! Every walk is iterative (explicit stacks): no input can make it recurse.
use std::collections::HashMap;
use std::sync::OnceLock;

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, OperationType, Selection, SelectionSet, TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::{parse_schema, Pos};
use async_graphql::{Name, ObjectType, Schema, ServerError, SubscriptionType};
use async_graphql_value::{ConstValue, Value};

use super::{dates, text};

/// Refuses a request holding a text with a control character, or a date out of range,
/// with VALIDATION and `extensions.field` naming the argument or input field (for a
/// variable: the argument or input field it fills, else its own name). Requests that do
/// not parse are left to execution, which reports the syntax error.
pub fn check_request<Q, M, S>(req: &mut async_graphql::Request, schema: &Schema<Q, M, S>) -> Result<(), ServerError>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    // The server builds one schema type; its SDL (the same with introspection on or off)
    // is read once per process.
    static TYPES: OnceLock<Types> = OnceLock::new();
    let types = TYPES.get_or_init(|| Types::of_sdl(&schema.sdl()));
    // Taken out for the walk (the parsed document borrows the request), then put back.
    let variables = std::mem::take(&mut req.variables);
    let checked = match req.parsed_query() {
        Ok(doc) => check(types, doc, &variables),
        Err(_) => Ok(()),
    };
    req.variables = variables;
    checked.map_err(Refusal::into_server_error)
}

/// A value refused: the field it fills and why.
#[derive(Debug)]
struct Refusal {
    field: String,
    message: String,
    pos: Option<Pos>,
}

impl Refusal {
    fn into_server_error(self) -> ServerError {
        let mut e = ServerError::new(self.message, self.pos);
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", "VALIDATION");
        ext.set("field", self.field);
        e.extensions = Some(ext);
        e
    }
}

/// What the walk needs of the schema: argument types of output fields, field types of
/// input objects (each as its named type, lists unwrapped: a list's items have its type).
#[derive(Default)]
struct Types {
    query: String,
    mutation: String,
    subscription: String,
    /// Object or interface -> field -> its arguments and its own type.
    outputs: HashMap<String, HashMap<String, OutputField>>,
    /// Input object -> field -> type.
    inputs: HashMap<String, HashMap<String, String>>,
}

/// An output field: argument -> type, and the field's own type.
type OutputField = (HashMap<String, String>, String);

fn named(ty: &async_graphql::parser::types::Type) -> &str {
    let mut t = ty;
    loop {
        match &t.base {
            BaseType::Named(n) => return n.as_str(),
            BaseType::List(inner) => t = inner,
        }
    }
}

impl Types {
    fn of_sdl(sdl: &str) -> Types {
        let mut t = Types {
            query: "Query".into(),
            mutation: "Mutation".into(),
            subscription: "Subscription".into(),
            ..Types::default()
        };
        let Ok(doc) = parse_schema(sdl) else {
            // Cannot happen for the SDL async-graphql prints; then only the text rule
            // (which needs no types) applies.
            tracing::error!("the schema's SDL does not parse: date inputs are not bounded");
            return t;
        };
        for def in doc.definitions {
            match def {
                TypeSystemDefinition::Schema(s) => {
                    let s = s.node;
                    if let Some(q) = s.query {
                        t.query = q.node.to_string();
                    }
                    if let Some(m) = s.mutation {
                        t.mutation = m.node.to_string();
                    }
                    if let Some(x) = s.subscription {
                        t.subscription = x.node.to_string();
                    }
                }
                TypeSystemDefinition::Type(ty) => {
                    let ty = ty.node;
                    let fields = match ty.kind {
                        TypeKind::Object(o) => o.fields,
                        TypeKind::Interface(i) => i.fields,
                        TypeKind::InputObject(i) => {
                            let fields = i
                                .fields
                                .iter()
                                .map(|f| (f.node.name.node.to_string(), named(&f.node.ty.node).to_string()));
                            t.inputs.entry(ty.name.node.to_string()).or_default().extend(fields);
                            continue;
                        }
                        _ => continue,
                    };
                    let entry = t.outputs.entry(ty.name.node.to_string()).or_default();
                    for f in fields {
                        let f = f.node;
                        let args = f
                            .arguments
                            .iter()
                            .map(|a| (a.node.name.node.to_string(), named(&a.node.ty.node).to_string()))
                            .collect();
                        entry.insert(f.name.node.to_string(), (args, named(&f.ty.node).to_string()));
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        t
    }

    fn argument(&self, parent: Option<&str>, field: &str, arg: &str) -> Option<&str> {
        self.outputs.get(parent?)?.get(field)?.0.get(arg).map(String::as_str)
    }

    fn field_type(&self, parent: Option<&str>, field: &str) -> Option<&str> {
        self.outputs.get(parent?)?.get(field).map(|f| f.1.as_str())
    }

    fn input_field(&self, input: Option<&str>, field: &str) -> Option<&str> {
        self.inputs.get(input?)?.get(field).map(String::as_str)
    }
}

/// A value of the document (which may name variables) or of the variables JSON.
trait Input {
    fn shape(&self) -> Shape<'_, Self>
    where
        Self: Sized;
}

enum Shape<'a, V> {
    Str(&'a str),
    List(&'a [V]),
    Object(Vec<(&'a str, &'a V)>),
    Variable(&'a str),
    Other,
}

impl Input for Value {
    fn shape(&self) -> Shape<'_, Self> {
        match self {
            Value::String(s) => Shape::Str(s),
            Value::List(l) => Shape::List(l),
            Value::Object(o) => Shape::Object(o.iter().map(|(k, v)| (k.as_str(), v)).collect()),
            Value::Variable(v) => Shape::Variable(v.as_str()),
            _ => Shape::Other,
        }
    }
}

impl Input for ConstValue {
    fn shape(&self) -> Shape<'_, Self> {
        match self {
            ConstValue::String(s) => Shape::Str(s),
            ConstValue::List(l) => Shape::List(l),
            ConstValue::Object(o) => Shape::Object(o.iter().map(|(k, v)| (k.as_str(), v)).collect()),
            _ => Shape::Other,
        }
    }
}

/// Checks one value of type `ty` (None: not known, e.g. inside a JSON value) filling
/// `field`. Variables met on the way are noted with the field they fill (the name a
/// refusal of their value will give).
fn check_value<'a, V: Input>(
    types: &'a Types,
    value: &'a V,
    ty: Option<&'a str>,
    field: &'a str,
    pos: Option<Pos>,
    uses: &mut HashMap<&'a str, &'a str>,
) -> Result<(), Refusal> {
    let mut stack = vec![(value, ty, field)];
    while let Some((value, ty, field)) = stack.pop() {
        match value.shape() {
            Shape::Str(s) => {
                if let Some((at, c)) = text::forbidden_char(s) {
                    return Err(Refusal { field: field.to_string(), message: text::refusal(field, at, c), pos });
                }
                if let Some(message) = ty.and_then(|t| dates::out_of_range(field, t, s)) {
                    return Err(Refusal { field: field.to_string(), message, pos });
                }
            }
            Shape::List(items) => stack.extend(items.iter().map(|v| (v, ty, field))),
            Shape::Object(map) => {
                for (k, v) in map {
                    // A key is text too (inside JSON values).
                    if let Some((at, c)) = text::forbidden_char(k) {
                        return Err(Refusal { field: field.to_string(), message: text::refusal(field, at, c), pos });
                    }
                    stack.push((v, types.input_field(ty, k), k));
                }
            }
            Shape::Variable(name) => {
                uses.entry(name).or_insert(field);
            }
            Shape::Other => {}
        }
    }
    Ok(())
}

type Arguments = [(async_graphql::Positioned<Name>, async_graphql::Positioned<Value>)];

fn check_arguments<'a>(
    types: &'a Types,
    parent: Option<&'a str>,
    field: Option<&'a str>,
    args: &'a Arguments,
    uses: &mut HashMap<&'a str, &'a str>,
) -> Result<(), Refusal> {
    for (name, value) in args {
        let ty = field.and_then(|f| types.argument(parent, f, &name.node));
        check_value(types, &value.node, ty, name.node.as_str(), Some(value.pos), uses)?;
    }
    Ok(())
}

fn check(types: &Types, doc: &ExecutableDocument, variables: &async_graphql::Variables) -> Result<(), Refusal> {
    let mut uses: HashMap<&str, &str> = HashMap::new();
    // Selection sets to walk, each with the type it selects from.
    let mut sets: Vec<(&SelectionSet, Option<&str>)> = Vec::new();
    for (_, op) in doc.operations.iter() {
        let root = match op.node.ty {
            OperationType::Query => &types.query,
            OperationType::Mutation => &types.mutation,
            OperationType::Subscription => &types.subscription,
        };
        for d in &op.node.directives {
            check_arguments(types, None, None, &d.node.arguments, &mut uses)?;
        }
        sets.push((&op.node.selection_set.node, Some(root.as_str())));
    }
    for fr in doc.fragments.values() {
        for d in &fr.node.directives {
            check_arguments(types, None, None, &d.node.arguments, &mut uses)?;
        }
        sets.push((&fr.node.selection_set.node, Some(fr.node.type_condition.node.on.node.as_str())));
    }
    while let Some((set, parent)) = sets.pop() {
        for sel in &set.items {
            match &sel.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    let name = f.name.node.as_str();
                    check_arguments(types, parent, Some(name), &f.arguments, &mut uses)?;
                    for d in &f.directives {
                        check_arguments(types, None, None, &d.node.arguments, &mut uses)?;
                    }
                    sets.push((&f.selection_set.node, types.field_type(parent, name)));
                }
                Selection::InlineFragment(fr) => {
                    for d in &fr.node.directives {
                        check_arguments(types, None, None, &d.node.arguments, &mut uses)?;
                    }
                    let on = fr.node.type_condition.as_ref().map(|c| c.node.on.node.as_str()).or(parent);
                    sets.push((&fr.node.selection_set.node, on));
                }
                // Fragment definitions are walked once each, above.
                Selection::FragmentSpread(sp) => {
                    for d in &sp.node.directives {
                        check_arguments(types, None, None, &d.node.arguments, &mut uses)?;
                    }
                }
            }
        }
    }
    // Variables: declared types, default values, then the values sent.
    let mut declared: HashMap<&str, &str> = HashMap::new();
    for (_, op) in doc.operations.iter() {
        for v in &op.node.variable_definitions {
            let v = &v.node;
            let name = v.name.node.as_str();
            let ty = named(&v.var_type.node);
            declared.entry(name).or_insert(ty);
            let field = uses.get(name).copied().unwrap_or(name);
            if let Some(default) = &v.default_value {
                let mut none = HashMap::new();
                check_value(types, &default.node, Some(ty), field, Some(default.pos), &mut none)?;
            }
        }
    }
    for (name, value) in variables.iter() {
        let name = name.as_str();
        let field = uses.get(name).copied().unwrap_or(name);
        let mut none = HashMap::new();
        check_value(types, value, declared.get(name).copied(), field, None, &mut none)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        scalar NaiveDate
        scalar JSON
        input Inner { on: NaiveDate, title: String }
        input Outer { inner: [Inner!], title: String, data: JSON }
        type Body { members(on: NaiveDate): [String!]! }
        type Query { body(id: ID!): Body, search(text: String): Int }
        type Mutation { make(input: Outer!, day: NaiveDate): Int }
    "#;

    fn run(query: &str, variables: serde_json::Value) -> Result<(), Refusal> {
        let types = Types::of_sdl(SDL);
        let doc = async_graphql::parser::parse_query(query).expect("query parses");
        let vars = async_graphql::Variables::from_json(variables);
        check(&types, &doc, &vars)
    }

    fn refused(query: &str, variables: serde_json::Value) -> (String, String) {
        let r = run(query, variables).expect_err("should be refused");
        (r.field, r.message)
    }

    #[test]
    fn control_characters_are_refused_wherever_the_text_is() {
        assert_eq!(refused(r#"{ search(text: "a\u0000b") }"#, serde_json::json!({})).0, "text");
        let (f, m) = refused(r#"mutation { make(input: {inner: [{title: "x\u001b"}]}) }"#, serde_json::json!({}));
        assert_eq!(f, "title");
        assert!(m.contains("U+001B"), "{m}");
        assert_eq!(
            refused(r#"mutation($i: Outer!) { make(input: $i) }"#, serde_json::json!({"i": {"title": "\u{85}"}})).0,
            "title"
        );
        assert_eq!(refused(r#"query($t: String) { search(text: $t) }"#, serde_json::json!({"t": "\u{0}"})).0, "text");
        assert_eq!(refused(r#"query($t: String = "\u007f") { search(text: $t) }"#, serde_json::json!({})).0, "text");
        assert_eq!(
            refused(r#"mutation { make(input: {data: {deep: [{k: "\u0000"}]}}) }"#, serde_json::json!({})).0,
            "k"
        );
        assert_eq!(
            refused(r#"{ ...F } fragment F on Query { search(text: "\u0001") }"#, serde_json::json!({})).0,
            "text"
        );
        // Layout characters are text.
        assert!(run("{ search(text: \"a\\nb\\r\\n\\tc\") }", serde_json::json!({})).is_ok());
        assert!(run(r#"query($t: String) { search(text: $t) }"#, serde_json::json!({"t": "a\nb\tc"})).is_ok());
    }

    #[test]
    fn dates_are_bounded_where_the_schema_puts_a_date() {
        let (f, _) = refused(r#"mutation { make(input: {title: "t"}, day: "-262143-01-01") }"#, serde_json::json!({}));
        assert_eq!(f, "day");
        let (f, _) = refused(r#"mutation { make(input: {inner: [{on: "2101-01-01"}]}) }"#, serde_json::json!({}));
        assert_eq!(f, "on");
        let (f, _) = refused(r#"{ body(id: "1") { members(on: "1999-12-31") } }"#, serde_json::json!({}));
        assert_eq!(f, "on");
        let (f, _) =
            refused(r#"mutation($d: NaiveDate) { make(input: {}, day: $d) }"#, serde_json::json!({"d": "1999-01-01"}));
        assert_eq!(f, "day");
        let (f, _) = refused(
            r#"mutation($i: Outer!) { make(input: $i) }"#,
            serde_json::json!({"i": {"inner": [{"on": "2101-01-01"}]}}),
        );
        assert_eq!(f, "on");
        // A title is not a date, whatever it reads; a JSON value's dates are its own.
        assert!(run(
            r#"mutation { make(input: {title: "1999-01-01", data: {on: "1999-01-01"}}, day: "2026-05-01") }"#,
            serde_json::json!({})
        )
        .is_ok());
        assert!(run(r#"{ body(id: "1") { members(on: "2100-12-31") } }"#, serde_json::json!({})).is_ok());
    }

    #[test]
    fn the_server_schema_is_read_with_its_date_inputs() {
        let t = Types::of_sdl(&crate::graphql::sdl());
        assert_eq!(t.argument(Some("Mutation"), "openReferral", "clockStartsOn"), Some("NaiveDate"));
        assert_eq!(t.argument(Some("Mutation"), "secondConvocation", "startsAt"), Some("NaiveDateTime"));
        assert_eq!(t.argument(Some("Body"), "members", "on"), Some("NaiveDate"));
        assert_eq!(t.input_field(Some("CreateMandateInput"), "startDate"), Some("NaiveDate"));
        assert_eq!(t.input_field(Some("CreateMeetingInput"), "startsAt"), Some("NaiveDateTime"));
        assert_eq!(t.field_type(Some("Query"), "bodies"), Some("BodyConnection"));
    }
}
