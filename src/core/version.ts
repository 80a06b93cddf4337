/** Shown in model cards and `chatvec --version`; keep in step with package.json. */
export const TOOL_NAME = 'Chat Vector Studio';
export const TOOL_VERSION = '0.1.0';
