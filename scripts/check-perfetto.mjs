// Reads ringtrace's trace-event JSON with an independent parser — the Chrome DevTools
// performance panel's trace engine (@paulirish/trace_engine from npm) — and checks it against
// the numbers `ringtrace workload` printed:
//
//   node scripts/check-perfetto.mjs TRACE.json EXPECTED.json
//
// - every thread of the workload is a track the engine found, under its name;
// - the engine built exactly `spans` slices (complete events), 4 per request on each worker;
// - their nesting (the engine's own tree per thread, instants left out) is exactly
//   `span_forest`: request ⊃ (parse, handle ⊃ db query), per worker, in order;
// - every other record became an instant (written − 2 × spans of them);
// - the loss record is an instant on the flood thread named "ringtrace: N events lost" with
//   args.lost_events = N = lost_events.
//
// Exits 1 with a message on the first mismatch.

import fs from 'node:fs';
import * as Trace from '@paulirish/trace_engine';
import {polyfillDOMRect} from '@paulirish/trace_engine/analyze-trace.mjs';

const [tracePath, expectedPath] = process.argv.slice(2);
if (!tracePath || !expectedPath) {
  console.error('usage: node scripts/check-perfetto.mjs TRACE.json EXPECTED.json');
  process.exit(2);
}

function fail(msg) {
  console.error(`check-perfetto: FAIL: ${msg}`);
  process.exit(1);
}

function assertEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) fail(`${what}: got ${a}, expected ${e}`);
}

const expected = JSON.parse(fs.readFileSync(expectedPath, 'utf8'));
const json = JSON.parse(fs.readFileSync(tracePath, 'utf8'));
if (!Array.isArray(json.traceEvents)) fail('no traceEvents array');

// The engine is written for a browser: it needs DOMRect.
polyfillDOMRect();
const model = Trace.TraceModel.Model.createWithAllHandlers();
await model.parse(json.traceEvents);
const parsed = model.parsedTrace();
if (!parsed) fail('the engine returned no parsed trace');
const threads = Trace.Handlers.Threads.threadsInTrace(parsed.data);

// Thread names.
const names = threads.map(t => t.name).sort();
assertEqual(names, [...expected.threads].sort(), 'thread names the engine found');

const isSlice = e => e.ph === 'X';
const isInstant = e => e.ph === 'I';

// Slices and instants.
let slices = 0;
let instants = 0;
for (const t of threads) {
  slices += t.entries.filter(isSlice).length;
  instants += t.entries.filter(isInstant).length;
}
assertEqual(slices, expected.spans, 'slices (spans) in the whole trace');
assertEqual(instants, expected.written - 2 * expected.spans, 'instants (events, loss records)');

// Nesting: the engine's tree per thread, slices only.
function forest(nodes) {
  const out = [];
  for (const n of nodes) {
    if (isSlice(n.entry)) {
      out.push({name: n.entry.name, children: forest(n.children)});
    }
  }
  return out;
}
// Children come out in the engine's order (by start time); compare names only.
const canon = f => f.map(n => ({name: n.name, children: canon(n.children)}));
for (const [name, want] of Object.entries(expected.span_forest)) {
  const t = threads.find(t => t.name === name);
  if (!t) fail(`thread ${name} missing`);
  const roots = [...t.tree.roots].sort((a, b) => a.entry.ts - b.entry.ts);
  assertEqual(forest(roots), canon(want), `span nesting on ${name}`);
  // Each child lies within its parent.
  const within = (n) => {
    for (const c of n.children) {
      if (isSlice(n.entry) && isSlice(c.entry)) {
        if (c.entry.ts < n.entry.ts || c.entry.ts + c.entry.dur > n.entry.ts + n.entry.dur) {
          fail(`${c.entry.name} is not inside ${n.entry.name} on ${name}`);
        }
      }
      within(c);
    }
  };
  roots.forEach(within);
}

// The loss marker.
const flood = threads.find(t => t.name === 'flood');
const lossName = `ringtrace: ${expected.lost_events} events lost`;
const loss = flood.entries.filter(e => isInstant(e) && e.name === lossName);
assertEqual(loss.length, expected.loss_records, `"${lossName}" markers on the flood thread`);
assertEqual(loss[0].args.lost_events, expected.lost_events, 'args.lost_events of the loss marker');

console.log(
    `check-perfetto: ok: ${threads.length} threads (${names.join(', ')}), ${slices} slices nested as expected, ` +
    `${instants} instants, loss marker "${lossName}"`);
