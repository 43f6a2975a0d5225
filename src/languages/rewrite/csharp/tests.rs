//! The rewrite's tests: pieces told apart, programs rewritten as a compiler
//! would see them, and no input that makes it panic.

use super::code::Item;
use super::*;

fn items(source: &str) -> Vec<String> {
    let code = Code::new(source, lex::tokens(source).unwrap()).unwrap();
    let start = code.prefix_end();
    let span = |first: usize, last: usize| {
        source[code.tokens[first].start..code.tokens[last].end].to_owned()
    };
    code.items(start)
        .into_iter()
        .map(|item| match item {
            Item::Statements(f, l) => format!("S: {}", span(f, l)),
            Item::Function(f) => format!("F: {}", span(f.first, f.last)),
            Item::Declaration(f, l) => format!("D: {}", span(f, l)),
            Item::Constant(f, l) => format!("C: {}", span(f, l)),
        })
        .collect()
}

#[test]
fn statements_functions_and_declarations_are_told_apart() {
    let src = "using System;\nusing static System.Math;\nusing L = System.Collections.Generic.List<int>;\n\
               var x = Add(1, 2);\nif (x > 2) { Console.WriteLine(x); } else Console.WriteLine(0);\n\
               int Add(int a, int b) => a + b;\nstatic async Task<int> Later() { await Task.Delay(1); return 1; }\n\
               (int, string) Pair() { return (1, \"a\"); }\nT Id<T>(T t) where T : class { return t; }\n\
               Action a = () => { };\nnew Foo().Bar();\nrecord = 3;\n\
               [Serializable] public class Foo { public void Bar() { } }\nrecord R(int X);\nnamespace N { class M { } }\n";
    assert_eq!(
        items(src),
        [
            "S: var x = Add(1, 2);\nif (x > 2) { Console.WriteLine(x); } else Console.WriteLine(0);",
            "F: int Add(int a, int b) => a + b;",
            "F: static async Task<int> Later() { await Task.Delay(1); return 1; }",
            "F: (int, string) Pair() { return (1, \"a\"); }",
            "F: T Id<T>(T t) where T : class { return t; }",
            "S: Action a = () => { };\nnew Foo().Bar();\nrecord = 3;",
            "D: [Serializable] public class Foo { public void Bar() { } }",
            "D: record R(int X);",
            "D: namespace N { class M { } }",
        ]
    );
}

#[test]
fn a_program_without_top_level_statements_only_gains_the_missing_usings() {
    let src = "using System;\nclass P { static void Main() { Console.WriteLine(1); } }\n";
    let out = rewrite(src).unwrap();
    assert!(!out.contains("Main(string[] args)"), "{out}");
    assert!(out.contains("using System.Linq;") && !out.contains("using System; "));
    assert!(out.contains("#line 1\nusing System;\nclass P"), "{out}");
    let all: String = IMPLICIT_USINGS
        .iter()
        .map(|u| format!("using {u};\n"))
        .collect();
    assert_eq!(
        rewrite(&format!("{all}class P {{ }}")),
        None,
        "nothing to do"
    );
}

#[test]
fn any_prefix_of_a_program_is_rewritten_or_left_without_a_panic() {
    let src = "using System;\nvar s = $\"{1} é {{x}}\";\n/* c */ int F<T>(T t) where T : class => 1;\n\
               await Task.Delay(1); return 2;\n#if X\nclass C { string v = @\"a\"\"b\"; char c = '\\''; }\n#endif\n";
    for (end, _) in src.char_indices() {
        let _ = rewrite(&src[..end]);
    }
    assert!(rewrite(src).is_some());
}

#[test]
fn directives_between_declarations_are_not_statements() {
    let src =
        "using System;\n#region Types\nclass Program { static void Main() { } };\n#endregion\n;\n";
    let out = rewrite(src).unwrap();
    assert!(!out.contains("Main(string[] args)"), "{out}");
    assert!(out.ends_with("#line 1\nusing System;\n#region Types\nclass Program { static void Main() { } };\n#endregion\n;\n\n"), "{out}");
}

#[test]
fn top_level_statements_become_main_with_their_own_line_numbers() {
    let src = "Console.WriteLine(args.Length);\n  int n = Twice(2);\nint Twice(int x) => x * 2;\nclass C { }\n";
    let out = rewrite(src).unwrap();
    assert!(out.contains("static void Main(string[] args)\n{\n#line 1\nConsole.WriteLine(args.Length);\n  int n = Twice(2);\n"), "{out}");
    assert!(
        out.contains("static \n#line 3\nint Twice(int x) => x * 2;"),
        "{out}"
    );
    assert!(out.contains("#line 4\nclass C { }"), "{out}");
    assert!(!out.contains("#error"), "{out}");
}

#[test]
fn await_makes_main_async_and_a_returned_value_makes_it_int() {
    let out = rewrite("await Task.Delay(1);\nreturn 3;\n").unwrap();
    assert!(out.contains("static int Main(string[] args) { return TopLevelStatementsAsync(args).GetAwaiter().GetResult(); }"), "{out}");
    assert!(out
        .contains("static async global::System.Threading.Tasks.Task<int> TopLevelStatementsAsync"));
    let out =
        rewrite("Func<Task> f = async () => { await Task.Delay(1); return; };\nf();\n").unwrap();
    assert!(out.contains("static void Main(string[] args)\n{"), "{out}");
}

#[test]
fn a_local_function_using_a_top_level_variable_gets_a_clear_error() {
    let out = rewrite("int count = 0;\nvoid Bump() { count++; }\nBump();\n").unwrap();
    assert!(
        out.contains("#line 1\n#error local function `Bump` uses the top-level variable `count`"),
        "{out}"
    );
    let out = rewrite("int count = 0;\nvoid Bump(int count) { count++; }\nint Own() { int count = 1; return count; }\n").unwrap();
    assert!(!out.contains("#error"), "{out}");
    let out = rewrite("void Show() { Console.WriteLine(args[0]); }\nShow();\n").unwrap();
    assert!(out.contains("top-level variable `args`"), "{out}");
}

#[test]
fn a_byte_order_mark_unicode_spaces_and_defines_leave_a_classic_program_classic() {
    let classic = "class Program { static void Main() { } }\u{a0}\n";
    for src in [
        format!("\u{feff}using System;\n{classic}"),
        format!("#define TRACE\n#undef X\nusing System;\n{classic}"),
    ] {
        let out = rewrite(&src).unwrap();
        assert!(!out.contains("Main(string[] args)"), "{out}");
        if src.starts_with('\u{feff}') {
            assert!(
                out.starts_with("\u{feff}\nusing System.Collections.Generic;"),
                "{out:?}"
            );
        } else {
            assert!(
                out.starts_with("#define TRACE\n#undef X\nusing System.Collections"),
                "{out}"
            );
        }
    }
}

#[test]
fn conditional_regions_stay_whole() {
    // An `#if` opening the statements belongs to them, not the prefix.
    let out =
        rewrite("using System;\n#if DEBUG\nConsole.WriteLine(1);\n#endif\nConsole.WriteLine(2);\n")
            .unwrap();
    let main = out.find("Main(string[] args)").unwrap();
    assert!(out.find("#if DEBUG").unwrap() > main, "{out}");
    // One that spans statements and a moved declaration: left unrewritten.
    let spanning = "Console.WriteLine(1);\n#if X\nclass A { }\n#else\nclass A { int b; }\n#endif\n";
    let out = rewrite(spanning).unwrap();
    assert!(!out.contains("Main(string[] args)"), "{out}");
}

#[test]
fn what_local_functions_use_is_found_in_every_form() {
    let uses = |src: &str| rewrite(src).unwrap().contains("#error");
    // Real uses of top-level variables.
    assert!(uses(
        "var name = \"a\";\nvoid Greet() => Console.WriteLine($\"Hello {name}\");\nGreet();\n"
    ));
    assert!(uses(
        "int.TryParse(\"1\", out var n);\nint Twice() => n * 2;\n"
    ));
    assert!(uses("object o = 1;\nif (o is int k) { }\nint K() => k;\n"));
    assert!(uses("int a = 1, b = 2;\nint B() => b;\n"));
    // Not uses: a named argument, an initializer, a member, a shadowing
    // declaration with a long type, a constant (hoisted with them).
    assert!(!uses(
        "int count = 0;\nvoid F(int count) { }\nvoid G() => F(count: 1);\n"
    ));
    assert!(!uses("int name = 0;\nobject H() => new { name = 1 };\n"));
    assert!(!uses("string name = \"\";\nint L(System.Type p) => p?.Name.Length ?? 0;\nint M(Foo p) => p?.name ?? 0;\n"));
    assert!(!uses("int counts = 0;\nvoid N() { System.Collections.Generic.Dictionary<string, System.Collections.Generic.List<int>> counts = null; }\n"));
    let out = rewrite(
        "const int N = 3;\nint[] Make() => new int[N];\nConsole.WriteLine(Make().Length);\n",
    )
    .unwrap();
    assert!(!out.contains("#error"), "{out}");
    let class = out.find("partial class Program").unwrap();
    let main_end = out.find("static \n").unwrap();
    let constant = out.find("const int N = 3;").unwrap();
    assert!(
        class < constant && constant < main_end,
        "the constant is Program's: {out}"
    );
}

#[test]
fn await_in_an_interpolation_and_attributes_on_a_local_function() {
    let out = rewrite("Console.WriteLine($\"{await Task.FromResult(1)}\");\n").unwrap();
    assert!(out.contains("TopLevelStatementsAsync"), "{out}");
    let out = rewrite("[Obsolete] int F() => 1;\nConsole.WriteLine(2);\n").unwrap();
    assert!(
        out.contains("[Obsolete]\nstatic \n#line 1\n           int F()"),
        "{out}"
    );
}

#[test]
fn tabs_pad_as_tabs_and_long_lines_do_not_blow_up() {
    let out = rewrite("\tConsole.WriteLine(1);\n").unwrap();
    assert!(out.contains("#line 1\n\tConsole.WriteLine(1);"), "{out}");
    let src = format!("x();{}", " class A { }".repeat(2000));
    let out = rewrite(&src).unwrap_or_default();
    assert!(
        out.len() < 4 * src.len() + 4096,
        "{} bytes from {}",
        out.len(),
        src.len()
    );
}

#[test]
fn global_usings_are_plain_usings() {
    let out =
        rewrite("global using System.Text;\nConsole.WriteLine(new StringBuilder());\n").unwrap();
    assert!(out.contains("#line 1\n       using System.Text;"), "{out}");
    assert!(out.contains("#line 2\nConsole.WriteLine"), "{out}");
}
