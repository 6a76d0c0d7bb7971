/** The rig's view of the install paths: the same module the agent uses (src/paths.ts). */
export * from '../paths.js';
