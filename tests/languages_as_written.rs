//! Programs as their users write them, on real podman: Python with its
//! scientific stack (NumPy, pandas, SciPy) as a language of its own,
//! through whipcode's API and Piston's, listed by both; C# with top-level
//! statements and a project's implicit usings; VB.NET with a project's
//! default imports; SQL scripts under the names Piston's clients give them.
// The podman lock is a std mutex held for the whole test on purpose: one podman test at a time.
#![allow(clippy::await_holding_lock)]

mod common;

use common::{Service, KEY};
use serde_json::{json, Value};

const PYTHON_SCI: u32 = 29;
const CSHARP: u32 = 23;
const VBNET: u32 = 26;

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn python_with_numpy_pandas_and_scipy_runs_through_both_apis() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let program = "import numpy as np\nimport pandas as pd\nfrom scipy import stats\n\
                   frame = pd.DataFrame({'x': np.arange(10), 'y': np.arange(10) * 2.0})\n\
                   slope = stats.linregress(frame.x, frame.y).slope\n\
                   print(frame.y.sum(), round(slope, 6))\n";
    let body = svc.run_ok(PYTHON_SCI, program, json!({})).await;
    assert_eq!(body["stdout"], "90.0 2.0\n", "{body}");

    // Piston's API, by an alias, and its runtimes list.
    let url = format!("{}/api/v2/execute", svc.url);
    let request = json!({"language": "numpy", "version": "3.x", "files": [{"content": program}]});
    let (status, answer) = common::post_json(&url, Some(KEY), &request).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["language"], "python-scientific");
    assert_eq!(answer["run"]["stdout"], "90.0 2.0\n", "{answer}");
    let runtimes: Value = common::get_json(&format!("{}/api/v2/runtimes", svc.url), KEY).await;
    let listed = runtimes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["language"] == "python-scientific")
        .unwrap_or_else(|| panic!("not listed: {runtimes}"));
    assert_eq!(listed["aliases"], json!(["numpy", "pandas", "scipy"]));

    // whipcode's own listing names the libraries' versions.
    let languages: Value = common::get_json(&format!("{}/languages", svc.url), KEY).await;
    let entry = languages["languages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == PYTHON_SCI)
        .unwrap_or_else(|| panic!("not listed: {languages}"));
    let version = entry["version"].as_str().unwrap_or_default();
    assert!(
        version.contains("NumPy") && version.contains("pandas") && version.contains("SciPy"),
        "{entry}"
    );
    svc.stop_and_check_clean();
}

/// The compile stage's stderr of a run that failed to compile.
fn compile_errors(body: &Value) -> &str {
    assert_ne!(body["compile"]["exit_code"], 0, "compiled: {body}");
    body["compile"]["stderr"].as_str().unwrap_or_default()
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn csharp_top_level_statements_run_as_a_dotnet_project_builds_them() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // The original whipcode's own C# test: C# 9, no `using System;`.
    let body = svc
        .run_ok(CSHARP, "Console.WriteLine(\"Success!\");\n", json!({}))
        .await;
    assert_eq!(body["stdout"], "Success!\n", "{body}");

    // usings first, args, stdin, await, local functions (static or not,
    // recursive, called before they are declared), a type declared after,
    // and `return n;` as the exit code.
    let program = r#"using System.Text;

var name = Console.ReadLine();
Console.WriteLine(Greet(name) + " " + string.Join(",", args));
await Task.Delay(10);
var digits = new StringBuilder();
foreach (var n in new List<int> { 1, 2, 3 }.Where(x => x > 1)) digits.Append(n);
Console.WriteLine($"{digits} {new Point(1, 2).Sum()} {Fib(10)}");
return Fib(10) == 55 ? 7 : 1;

static string Greet(string who) => $"Hello, {who}!";
int Fib(int n) { return n < 2 ? n : Fib(n - 1) + Fib(n - 2); }

class Point {
    readonly int x, y;
    public Point(int x, int y) { this.x = x; this.y = y; }
    public int Sum() => x + y;
}
"#;
    let url = format!("{}/api/v2/execute", svc.url);
    let request = json!({"language": "csharp", "version": "*", "files": [{"content": program}],
                         "stdin": "World\n", "args": ["a", "b"]});
    let (status, answer) = common::post_json(&url, Some(KEY), &request).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["run"]["stdout"], "Hello, World! a,b\n23 3 55\n",
        "{answer}"
    );
    assert_eq!(answer["run"]["code"], 7, "{answer}");
    assert_eq!(answer["compile"]["stderr"], "", "no warnings: {answer}");

    // A compile error names the user's line and column, not the rewrite's.
    let body = svc
        .run_ok(
            CSHARP,
            "Console.WriteLine(1);\n\nint x = \"no\";\n",
            json!({}),
        )
        .await;
    assert!(
        compile_errors(&body).contains("source.cs(3,9): error CS0029"),
        "{body}"
    );

    // A local function using a top-level variable cannot be hoisted: it
    // says so, on the function's line.
    let body = svc
        .run_ok(
            CSHARP,
            "int total = 0;\nvoid Add(int n) { total += n; }\nAdd(1);\n",
            json!({}),
        )
        .await;
    let errors = compile_errors(&body);
    assert!(errors.contains("source.cs(2,"), "{body}");
    assert!(
        errors.contains("local function `Add` uses the top-level variable `total`"),
        "{body}"
    );

    // Syntax newer than C# 7 says which C# this is.
    let body = svc
        .run_ok(
            CSHARP,
            "var s = 3 switch { 3 => \"a\", _ => \"b\" };\n",
            json!({}),
        )
        .await;
    let errors = compile_errors(&body);
    assert!(errors.contains("error CS1525"), "{body}");
    assert!(
        errors.contains("note: C# here is C# 7 (Mono 6.8 mcs"),
        "{body}"
    );
    // ... and an ordinary error does not get that note.
    let body = svc
        .run_ok(CSHARP, "Console.WriteLine(undefinedName);\n", json!({}))
        .await;
    assert!(!compile_errors(&body).contains("note:"), "{body}");

    // A classic program with its own `using System;` is untouched apart
    // from the usings it lacks, and compiles without a warning.
    let classic =
        "using System;\nnamespace Hello {\n  class Program {\n    static void Main() {\n      \
                   Console.WriteLine(Console.ReadLine());\n    }\n  }\n}\n";
    let body = svc
        .run_ok(CSHARP, classic, json!({"stdin": "line\n"}))
        .await;
    assert_eq!(body["stdout"], "line\n", "{body}");
    assert_eq!(body["compile"]["stderr"], "", "{body}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn vbnet_as_tutorials_write_it_compiles_with_a_projects_default_imports() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // No `Imports`: Console (System), List (System.Collections.Generic)
    // and Where/Sum (System.Linq) as a project's default imports give them.
    let program = "Module Program\n    Sub Main()\n        Dim line As String = Console.ReadLine()\n        \
                   Dim numbers As New List(Of Integer) From {1, 2, 3, 4}\n        \
                   Console.WriteLine(line.ToUpper() & \" \" & numbers.Where(Function(n) n > 2).Sum())\n    \
                   End Sub\nEnd Module\n";
    let body = svc
        .run_ok(VBNET, program, json!({"stdin": "hello\n"}))
        .await;
    assert_eq!(body["stdout"], "HELLO 7\n", "{body}");
    assert_eq!(body["compile"]["stdout"], "", "no warnings: {body}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the test images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_sql_script_of_any_name_reads_stdin_then_runs_its_arguments() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // Piston keeps the client's file name, quote and space included.
    let script = "CREATE TABLE input(line TEXT);\n.import /dev/stdin input\n\
                  SELECT upper(line) FROM input;\n";
    let url = format!("{}/api/v2/execute", svc.url);
    let request = json!({"language": "sqlite3", "version": "*",
        "files": [{"name": "my query's.sql", "content": script}],
        "stdin": "typed\n", "args": ["SELECT count(*) FROM input;"]});
    let (status, answer) = common::post_json(&url, Some(KEY), &request).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["run"]["stdout"], "TYPED\n1\n", "{answer}");
    assert_eq!(answer["run"]["code"], 0, "{answer}");
    // The first error stops the script, as -bail says.
    let request = json!({"language": "sql", "version": "*",
        "files": [{"content": "SELECT 1;\nSELECT nope FROM nowhere;\nSELECT 2;\n"}]});
    let (_, answer) = common::post_json(&url, Some(KEY), &request).await;
    assert_eq!(answer["run"]["stdout"], "1\n", "{answer}");
    assert_ne!(answer["run"]["code"], 0, "{answer}");
    svc.stop_and_check_clean();
}
