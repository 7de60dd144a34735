/**
 * Local emulator of Azure DevOps' Oidctoken API and Microsoft Entra ID's token endpoint.
 * See emulator.ts for the server, errors.ts for every error shape and presets.ts for named failures.
 */
export * from './emulator';
export * from './errors';
export * from './http';
export * from './ids';
export * from './jwt';
export * from './model';
export * from './pki';
export * from './presets';
export * from './aws-sts';
export * from './relying-party';
export * from './gcp';
export * from './vault';
