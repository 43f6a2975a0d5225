// The Judge0 IDE's requests, as its js/ide.js makes them (read from
// judge0/ide; written anew here): GET /languages when the page loads; on
// Run, GET /languages/<id> beside POST /submissions?base64_encoded=true&wait=false
// with the IDE's body (blank compiler options and arguments, stderr into
// stdout), then GET /submissions/<token>?base64_encoded=true every 100 ms
// while the status id is 1 or 2 (In Queue, Processing). A failed request
// shows its error, as a browser reports it: a CORS refusal is a TypeError.
"use strict";

const api = new URLSearchParams(location.search).get("api");
const el = (id) => document.getElementById(id);
const POLL_MS = 100;
const MAX_POLLS = 300;

// Base64 of UTF-8 text, and back (the IDE sends and reads base64).
function encode(text) {
    const bytes = new TextEncoder().encode(text);
    return btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
}

function decode(b64) {
    const bytes = Uint8Array.from(atob(b64 || ""), (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
}

async function getJson(url, init) {
    const response = await fetch(url, init);
    if (!response.ok) {
        throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    }
    return response.json();
}

function describe(error) {
    return `${error.name}: ${error.message}`;
}

async function loadLanguages() {
    const state = el("languages");
    try {
        const languages = await getJson(`${api}/languages`);
        for (const language of languages) {
            el("language").add(new Option(language.name, language.id));
        }
        state.textContent = `${languages.length} languages`;
        state.dataset.state = "loaded";
    } catch (error) {
        state.textContent = describe(error);
        state.dataset.state = "failed";
    }
}

async function submit(languageId) {
    const body = {
        source_code: encode(el("source").value),
        language_id: languageId,
        stdin: encode(el("stdin").value),
        compiler_options: "",
        command_line_arguments: "",
        redirect_stderr_to_stdout: true,
    };
    const { token } = await getJson(`${api}/submissions?base64_encoded=true&wait=false`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
    });
    return token;
}

async function poll(token) {
    for (let i = 0; i < MAX_POLLS; i++) {
        const submission = await getJson(`${api}/submissions/${token}?base64_encoded=true`);
        el("status").textContent = submission.status.description;
        if (submission.status.id > 2) {
            return submission;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    throw new Error(`no result after ${MAX_POLLS} polls`);
}

async function run() {
    const result = el("result");
    result.dataset.state = "running";
    for (const id of ["language-name", "status", "stdout", "compile-output", "error"]) {
        el(id).textContent = "";
    }
    const languageId = parseInt(el("language").value, 10);
    // The IDE reads the language's details apart from the run.
    const details = getJson(`${api}/languages/${languageId}`).then(
        (language) => (el("language-name").textContent = language.name),
        (error) => (el("language-name").textContent = describe(error)),
    );
    try {
        const submission = await poll(await submit(languageId));
        el("stdout").textContent = decode(submission.stdout);
        el("compile-output").textContent = decode(submission.compile_output);
    } catch (error) {
        el("error").textContent = describe(error);
    }
    await details;
    result.dataset.state = "done";
}

el("run").addEventListener("click", run);
loadLanguages();
