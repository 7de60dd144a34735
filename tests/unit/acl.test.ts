import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as sinon from 'sinon';
import { checkConfigOwnerOnly } from '../../src/command/config';
import {
  othersWithAccess,
  parseIcacls,
  posixOwnerOnlyProblem,
  restrictDirectoryToOwner,
  type ProgramResult,
  type RunProgram,
} from '../../src/core/acl';
import { TaskFailure } from '../../src/core/errors';
import { createPrivateDirectory } from '../../src/core/tokenfile';

const ENV = { SystemRoot: 'C:\\Windows' };
const WHOAMI = 'C:\\Windows\\System32\\whoami.exe';
const ICACLS = 'C:\\Windows\\System32\\icacls.exe';
const USER = { name: 'build01\\vstsagent', sid: 'S-1-5-21-1004336348-1177238915-682003330-1001' };
const WHOAMI_OUTPUT = `"${USER.name}","${USER.sid}"\r\n`;

const ok = (stdout = ''): ProgramResult => ({ status: 0, stdout, stderr: '' });

/** A run stub answering whoami with USER and icacls with `icacls`. */
function windows(icacls: ProgramResult): sinon.SinonStub<Parameters<RunProgram>, ProgramResult> {
  const run = sinon.stub<Parameters<RunProgram>, ProgramResult>();
  run.withArgs(WHOAMI, sinon.match.any).returns(ok(WHOAMI_OUTPUT));
  run.withArgs(ICACLS, sinon.match.any).returns(icacls);
  return run;
}

// `icacls <file>` output as Windows prints it (CRLF, names padded to the file name's width).
const FILE = 'C:\\agent\\_work\\_temp\\azure-wif-Ab12Cd\\token-command.json';
const PAD = ' '.repeat(FILE.length + 1);
const SUMMARY = '\r\nSuccessfully processed 1 files; Failed processing 0 files\r\n';
const RESTRICTED = `${FILE} BUILD01\\vstsagent:(I)(F)\r\n${SUMMARY}`;
const INHERITED_FROM_DRIVE_ROOT =
  `${FILE} NT AUTHORITY\\Authenticated Users:(I)(M)\r\n` +
  `${PAD}NT AUTHORITY\\SYSTEM:(I)(F)\r\n` +
  `${PAD}BUILTIN\\Administrators:(I)(F)\r\n` +
  `${PAD}BUILTIN\\Users:(I)(RX)\r\n${SUMMARY}`;
const USER_PROFILE_TEMP =
  `${FILE} NT AUTHORITY\\SYSTEM:(I)(F)\r\n` +
  `${PAD}BUILTIN\\Administrators:(I)(F)\r\n` +
  `${PAD}BUILD01\\vstsagent:(I)(F)\r\n${SUMMARY}`;
const DENY_AND_RAW_SID =
  `${FILE} Everyone:(DENY)(W)\r\n` +
  `${PAD}${USER.sid}:(F)\r\n` +
  `${PAD}S-1-5-18:(I)(OI)(CI)(F)\r\n${SUMMARY}`;

describe('owner-only files on Windows and POSIX', () => {
  let temp: string;
  beforeEach(() => (temp = fs.mkdtempSync(path.join(os.tmpdir(), 'azure-wif-acl-'))));
  afterEach(() => fs.rmSync(temp, { recursive: true, force: true }));

  describe('restricting the private directory', () => {
    it('replaces the ACL with full control for the current user alone, inherited, via icacls by absolute path', () => {
      const run = windows(ok());
      restrictDirectoryToOwner('C:\\agent\\_work\\_temp\\azure-wif-Ab12Cd', run, ENV);
      assert.deepEqual(run.args, [
        [WHOAMI, ['/user', '/fo', 'csv', '/nh']],
        [
          ICACLS,
          [
            'C:\\agent\\_work\\_temp\\azure-wif-Ab12Cd',
            '/inheritance:r',
            '/grant:r',
            `*${USER.sid}:(OI)(CI)F`,
          ],
        ],
      ]);
    });

    it('fails with the cause and the remedy when icacls fails', () => {
      const run = windows({ status: 5, stdout: '', stderr: 'Access is denied.' });
      assert.throws(() => restrictDirectoryToOwner('C:\\t\\azure-wif-1', run, ENV), {
        name: 'TaskFailure',
        message:
          'Could not make C:\\t\\azure-wif-1 private to build01\\vstsagent (icacls exited with 5: Access is denied.), so the token file would be readable by others. ' +
          "Give the agent's user full control of Agent.TempDirectory, where the task keeps its token file.",
      });
    });

    it('fails when whoami gives no SID', () => {
      const run = sinon
        .stub<Parameters<RunProgram>, ProgramResult>()
        .returns({ status: 1, stdout: '', stderr: 'boom' });
      assert.throws(() => restrictDirectoryToOwner('C:\\t\\d', run, ENV), {
        message:
          "Could not find the current Windows user's SID to restrict the task's files to it (whoami exited with 1: boom). " +
          "Check that C:\\Windows\\System32\\whoami.exe runs for the agent's user.",
      });
      assert.equal(run.callCount, 1, 'icacls never ran');
    });

    it('createPrivateDirectory restricts the new directory on win32, and removes it when that fails', () => {
      const run = windows(ok());
      const directory = createPrivateDirectory(temp, 'azure-wif-', { platform: 'win32', run, env: ENV });
      assert.deepEqual(run.secondCall.args, [
        ICACLS,
        [directory, '/inheritance:r', '/grant:r', `*${USER.sid}:(OI)(CI)F`],
      ]);

      const failing = windows({ status: 1, stdout: '', stderr: 'nope' });
      assert.throws(
        () => createPrivateDirectory(temp, 'azure-wif-', { platform: 'win32', run: failing, env: ENV }),
        TaskFailure,
      );
      assert.deepEqual(fs.readdirSync(temp), [path.basename(directory)], 'the unprotected directory is gone');
    });

    it('createPrivateDirectory runs nothing on POSIX, where mode 0700 does the job', () => {
      const run = windows(ok());
      const directory = createPrivateDirectory(temp, 'azure-wif-', { platform: 'linux', run });
      assert.equal(run.callCount, 0);
      if (process.platform !== 'win32') assert.equal(fs.statSync(directory).mode & 0o777, 0o700);
    });
  });

  describe('parsing icacls output', () => {
    it('reads each principal and its rights, the first one after the file name', () => {
      assert.deepEqual(parseIcacls(INHERITED_FROM_DRIVE_ROOT, FILE), [
        { principal: 'NT AUTHORITY\\Authenticated Users', rights: '(I)(M)', deny: false },
        { principal: 'NT AUTHORITY\\SYSTEM', rights: '(I)(F)', deny: false },
        { principal: 'BUILTIN\\Administrators', rights: '(I)(F)', deny: false },
        { principal: 'BUILTIN\\Users', rights: '(I)(RX)', deny: false },
      ]);
    });

    it('reads deny entries and unresolved SIDs', () => {
      assert.deepEqual(parseIcacls(DENY_AND_RAW_SID, FILE), [
        { principal: 'Everyone', rights: '(DENY)(W)', deny: true },
        { principal: USER.sid, rights: '(F)', deny: false },
        { principal: 'S-1-5-18', rights: '(I)(OI)(CI)(F)', deny: false },
      ]);
    });

    it('reads a file name with spaces', () => {
      const file = 'C:\\Program Files\\agent\\token-command.json';
      assert.deepEqual(parseIcacls(`${file} BUILTIN\\Users:(I)(RX)\r\n`, file), [
        { principal: 'BUILTIN\\Users', rights: '(I)(RX)', deny: false },
      ]);
    });

    it('names who besides the owner, SYSTEM and Administrators may access the file', () => {
      assert.deepEqual(othersWithAccess(parseIcacls(RESTRICTED, FILE), USER), []);
      assert.deepEqual(othersWithAccess(parseIcacls(USER_PROFILE_TEMP, FILE), USER), []);
      assert.deepEqual(othersWithAccess(parseIcacls(DENY_AND_RAW_SID, FILE), USER), []);
      assert.deepEqual(othersWithAccess(parseIcacls(INHERITED_FROM_DRIVE_ROOT, FILE), USER), [
        'NT AUTHORITY\\Authenticated Users',
        'BUILTIN\\Users',
      ]);
    });
  });

  describe("azure-wif-token's check of token-command.json", () => {
    it('refuses a POSIX file others can read, with the chmod that fixes it', () => {
      const file = path.join(temp, 'token-command.json');
      fs.writeFileSync(file, '{}', { mode: 0o644 });
      fs.chmodSync(file, 0o644);
      const uid = fs.statSync(file).uid;
      assert.throws(() => checkConfigOwnerOnly(file, { platform: 'linux', uid }), {
        message:
          `azure-wif-token: refuses its configuration ${file} because its mode is 0644, so other users can read or change it, and a changed configuration could send the job access token elsewhere. ` +
          `Re-run the AzureWorkloadIdentity task, which writes it owner-only, or, if you made it so, restrict it again: chmod 600 '${file}'`,
      });
      fs.chmodSync(file, 0o600);
      checkConfigOwnerOnly(file, { platform: 'linux', uid });
    });

    it("refuses a POSIX file that is another user's", () => {
      const file = path.join(temp, 'token-command.json');
      fs.writeFileSync(file, '{}', { mode: 0o600 });
      const uid = fs.statSync(file).uid;
      assert.throws(() => checkConfigOwnerOnly(file, { platform: 'linux', uid: uid + 1 }), {
        message: new RegExp(
          `^azure-wif-token: refuses its configuration .* because it belongs to user id ${uid}, not to this step's user id ${uid + 1}, `,
        ),
      });
    });

    it('checks the mode bits exactly: any group or other bit is refused', () => {
      for (const mode of [0o600, 0o700, 0o400])
        assert.equal(posixOwnerOnlyProblem({ mode, uid: 1 }, 1), undefined);
      for (const mode of [0o601, 0o602, 0o604, 0o610, 0o620, 0o640, 0o660, 0o666]) {
        assert.ok(posixOwnerOnlyProblem({ mode, uid: 1 }, 1), mode.toString(8));
      }
    });

    it('refuses a Windows file other principals can reach, with the icacls that fixes it', () => {
      const run = windows(ok(INHERITED_FROM_DRIVE_ROOT));
      assert.throws(() => checkConfigOwnerOnly(FILE, { platform: 'win32', run, env: ENV }), {
        message:
          `azure-wif-token: refuses its configuration ${FILE} because NT AUTHORITY\\Authenticated Users, BUILTIN\\Users can access it besides build01\\vstsagent, and a changed configuration could send the job access token elsewhere. ` +
          `Re-run the AzureWorkloadIdentity task, which writes it owner-only, or, if you made it so, restrict it again: icacls "${FILE}" /inheritance:r /grant:r "*${USER.sid}:F"`,
      });
      assert.deepEqual(run.lastCall.args[1], [FILE]);
    });

    it('accepts a Windows file only its owner, SYSTEM and Administrators can reach', () => {
      checkConfigOwnerOnly(FILE, { platform: 'win32', run: windows(ok(RESTRICTED)), env: ENV });
      checkConfigOwnerOnly(FILE, { platform: 'win32', run: windows(ok(USER_PROFILE_TEMP)), env: ENV });
    });

    it('refuses a Windows file whose permissions icacls cannot read', () => {
      assert.throws(
        () =>
          checkConfigOwnerOnly(FILE, {
            platform: 'win32',
            run: windows({ status: 2, stdout: '', stderr: '' }),
            env: ENV,
          }),
        { message: /because icacls could not read its permissions \(exit code 2\), / },
      );
    });
  });
});
