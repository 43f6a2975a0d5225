// Drives the npm piston-client, unmodified, against a server:
//   node execute.mjs <server URL> '<JSON list of calls>'
// Each call is {"args": [...]}: the arguments of client.execute(...), as a
// Piston user writes them. Prints one JSON document: the runtimes the client
// read, then each call's result, as the client returned them.
import piston from "piston-client";

const [server, calls] = process.argv.slice(2);
const client = piston({ server });
const runtimes = await client.runtimes();
const results = [];
for (const call of JSON.parse(calls)) {
    results.push(await client.execute(...call.args));
}
process.stdout.write(JSON.stringify({ runtimes, results }));
