import { strict as assert } from 'node:assert';
import { assertJobTokenDestination } from '../../src/core/job-token-origin';

const ORG = 'https://dev.azure.com/contoso/';
// System.OidcRequestUri as Azure DevOps Services sets it (gravitational/teleport rfd/0211-azure-devops-joining.md).
const OIDC =
  'https://dev.azure.com/contoso/271ef6f7-5998-4b0f-86fb-4b54d9129990/_apis/distributedtask/hubs/build/plans/c738a23e-2307-4a6c-a406-f1f0f729387c/jobs/12f1170f-54f2-53f3-20dd-22fc7dff55f9/oidctoken';
const REMEDY =
  'Run the task on an agent of the Azure DevOps organization or collection the job belongs to, and do not override System.OidcRequestUri or System.CollectionUri.';

function refusal(url: string, why: string): { name: string; message: string } {
  return {
    name: 'TaskFailure',
    message: `The task will not send the job access token to '${url}': ${why}. ${REMEDY}`,
  };
}

describe('where the job access token may go', () => {
  it("allows the Oidctoken URL under the job's own collection", () => {
    assertJobTokenDestination(OIDC, ORG);
    assertJobTokenDestination(OIDC, 'https://dev.azure.com/contoso');
    assertJobTokenDestination(OIDC.replace('/contoso/', '/Contoso/'), ORG);
  });

  it('allows an Azure DevOps Server collection, on https or (only when the collection is) http', () => {
    const tfs = 'https://tfs.corp.example/tfs/DefaultCollection/';
    assertJobTokenDestination(`${tfs}proj/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken`, tfs);
    const http = 'http://tfs.corp.example:8080/tfs/DefaultCollection/';
    assertJobTokenDestination(`${http}proj/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken`, http);
  });

  it('treats <org>.visualstudio.com and dev.azure.com/<org> as one organization', () => {
    assertJobTokenDestination(OIDC, 'https://contoso.visualstudio.com/');
    assertJobTokenDestination('https://contoso.visualstudio.com/p/_apis/x/oidctoken', ORG);
    assert.throws(
      () => assertJobTokenDestination(OIDC, 'https://fabrikam.visualstudio.com/'),
      refusal(OIDC, "it is not under the job's collection 'https://fabrikam.visualstudio.com/'"),
    );
  });

  it('refuses another host, even a Microsoft one', () => {
    const other = 'https://vstoken.dev.azure.com/contoso/oidctoken';
    assert.throws(
      () => assertJobTokenDestination(other, ORG),
      refusal(other, "it is not under the job's collection 'https://dev.azure.com/contoso/'"),
    );
    const evil = 'https://dev.azure.com.evil.example/contoso/oidctoken';
    assert.throws(
      () => assertJobTokenDestination(evil, ORG),
      refusal(evil, "it is not under the job's collection 'https://dev.azure.com/contoso/'"),
    );
  });

  it('refuses another organization on the same host, and another port', () => {
    const other = OIDC.replace('/contoso/', '/fabrikam/');
    assert.throws(
      () => assertJobTokenDestination(other, ORG),
      refusal(other, "it is not under the job's collection 'https://dev.azure.com/contoso/'"),
    );
    const prefix = OIDC.replace('/contoso/', '/contosoevil/');
    assert.throws(() => assertJobTokenDestination(prefix, ORG), /it is not under the job's collection/);
    const port = OIDC.replace('dev.azure.com', 'dev.azure.com:8443');
    assert.throws(() => assertJobTokenDestination(port, ORG), /it is not under the job's collection/);
  });

  it('refuses http when the collection is https', () => {
    const http = OIDC.replace('https:', 'http:');
    assert.throws(() => assertJobTokenDestination(http, ORG), refusal(http, 'it is not https'));
  });

  it('refuses credentials in the URL, a non-URL, and a missing collection', () => {
    const creds = OIDC.replace('https://', 'https://user:pw@');
    assert.throws(
      () => assertJobTokenDestination(creds, ORG),
      refusal(creds, 'it carries a user name or password'),
    );
    assert.throws(() => assertJobTokenDestination('not a url', ORG), refusal('not a url', 'it is not a URL'));
    assert.throws(
      () => assertJobTokenDestination(OIDC, undefined),
      refusal(OIDC, 'the agent did not say which collection the job belongs to (System.CollectionUri)'),
    );
    assert.throws(
      () => assertJobTokenDestination(OIDC, 'ftp://dev.azure.com/contoso/'),
      refusal(OIDC, "the collection URI 'ftp://dev.azure.com/contoso/' is neither https nor http"),
    );
  });
});
