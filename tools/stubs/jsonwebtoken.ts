import { unusedModule } from './unused';

// @azure/msal-node signs a client assertion with jsonwebtoken only for certificate credentials
// (ClientAssertion.createJwt); the task hands MSAL the idToken as a ready-made assertion.
export = unusedModule(
  'jsonwebtoken',
  'MSAL only signs assertions with it for certificate credentials, and the task passes the idToken as the assertion',
);
