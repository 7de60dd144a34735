// What the task uses of MSAL, in a module of its own so that src/core/entra.ts can load it on first use
// (a require of this file keeps esbuild's tree-shaking of MSAL, which a dynamic import() of MSAL loses).
export { ConfidentialClientApplication } from '@azure/msal-node';
