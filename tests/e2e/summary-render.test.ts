import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import MarkdownIt from 'markdown-it';
import type { Emulator } from '../emulator';
import { REPO_ROOT, runExecutable, secretsOf, type StepResult } from '../harness/agent';
import { sections } from '../harness/markdown';
import { EmulatedJob, findOnPath, startEmulator } from '../harness/scenario';

/** Build artefacts of this test (git-ignored): the summary as HTML and as a screenshot. */
const ARTEFACTS = path.join(REPO_ROOT, 'out', 'summary');

/** Roughly the look of the run summary page, so the screenshot shows what an author sees. */
const STYLE = `
body { font: 14px/1.5 "Segoe UI", "DejaVu Sans", sans-serif; color: #201f1e; margin: 24px; max-width: 1040px; }
h2 { font-size: 20px; margin: 0 0 8px; } h3 { font-size: 16px; margin: 20px 0 6px; }
table { border-collapse: collapse; margin: 4px 0; } th, td { border: 1px solid #d1d1d1; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f2f1; } code { font: 12px/1.4 "DejaVu Sans Mono", monospace; background: #f3f2f1; padding: 0 3px; overflow-wrap: anywhere; }
td:first-child code { white-space: nowrap; word-break: normal; }
`;

/** Width and height from a PNG's IHDR chunk. */
function pngSize(file: string): { width: number; height: number } {
  const png = fs.readFileSync(file);
  assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', `${file} is not a PNG`);
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('run summary, rendered as Markdown and in a browser', function () {
  this.timeout(120_000);
  let emulator: Emulator;
  let step: StepResult;
  let markdown: string;
  let html: string;
  let htmlFile: string;

  before(async () => {
    emulator = await startEmulator();
    const connection = emulator.options.connections.find((c) => c.issuerStyle === 'entra')!;
    step = await EmulatedJob.forConnection(emulator, connection).runTask();
    assert.equal(step.result?.result, 'Succeeded', step.stdout);
    const upload = step.commands.find((c) => c.area === 'task' && c.event === 'uploadsummary')!;
    markdown = fs.readFileSync(upload.data, 'utf8');
    // html: false, as the run page: raw HTML in the Markdown is shown as text, never run.
    html = new MarkdownIt({ html: false, linkify: false }).render(markdown);
    fs.mkdirSync(ARTEFACTS, { recursive: true });
    htmlFile = path.join(ARTEFACTS, 'summary.html');
    fs.writeFileSync(
      htmlFile,
      `<!doctype html><meta charset="utf-8"><title>Run summary</title><style>${STYLE}</style>\n${html}`,
    );
  });

  after(async () => {
    await emulator?.stop();
  });

  it('renders every table of the summary, with a row for each variable the step set', () => {
    const tables = html.match(/<table>[\s\S]*?<\/table>/g) ?? [];
    const headings = [...sections(markdown).entries()]
      .filter(([, body]) => /^\| /m.test(body))
      .map(([h]) => h);
    assert.deepEqual(headings, [
      'Identity',
      'Token expiry (UTC)',
      'Variables for later steps of this job',
      'Secret variables',
      'Output variables for later jobs and stages',
      'Fresh tokens in later steps',
    ]);
    assert.equal(tables.length, headings.length);
    const rows = (table: string) => (table.match(/<tr>/g) ?? []).length - 1;
    assert.equal(rows(tables[2]), step.variables.filter((v) => !v.secret && !v.output).length);
    assert.equal(rows(tables[3]), step.variables.filter((v) => v.secret && !v.output).length);
    assert.equal(rows(tables[4]), step.variables.filter((v) => v.output).length);
    for (const variable of step.variables) {
      assert.ok(html.includes(`<code>${variable.name}</code>`), variable.name);
    }
    // Pipes and brackets in the expressions survive rendering.
    assert.ok(
      html.includes("<code>$[ dependencies.&lt;job&gt;.outputs['&lt;step name&gt;.clientId'] ]</code>"),
      html,
    );
  });

  it('holds no secret in the rendered page', () => {
    const found = secretsOf(step).filter((secret) => secret.length >= 8 && html.includes(secret));
    assert.deepEqual(found, []);
  });

  it('screenshots the rendered summary in headless Chromium', async function () {
    const chromium = findOnPath('chromium') ?? findOnPath('chromium-browser');
    if (!chromium) {
      console.log(
        '    Skipping the screenshot: `chromium` is not on PATH. ' +
          'CI installs it (.ci/run); locally run `apt-get update && apt-get install -y chromium`.',
      );
      this.skip();
    }
    const screenshot = path.join(ARTEFACTS, 'summary.png');
    fs.rmSync(screenshot, { force: true });
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'azure-wif-chromium-'));
    try {
      const { exitCode: code, stderr } = await runExecutable(
        chromium,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          // Paint the whole page before the shot (without it, the last tiles can come out blank).
          '--hide-scrollbars',
          '--virtual-time-budget=3000',
          `--user-data-dir=${profile}`,
          `--screenshot=${screenshot}`,
          '--window-size=1100,1400',
          `file://${htmlFile}`,
        ],
        process.env as Record<string, string>,
        90_000,
      );
      assert.ok(fs.existsSync(screenshot), `chromium exited with ${code} and wrote no screenshot: ${stderr}`);
    } finally {
      fs.rmSync(profile, { recursive: true, force: true });
    }
    assert.deepEqual(pngSize(screenshot), { width: 1100, height: 1400 });
    // A blank page compresses to a few KB; the tables make it much larger.
    assert.ok(fs.statSync(screenshot).size > 20_000, `${screenshot} looks blank`);
  });
});
