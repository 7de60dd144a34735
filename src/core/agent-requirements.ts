import { minimumAgentVersion } from '../../task.json';

/**
 * The oldest agent the task runs on, from task.json: the one place it is written, so messages that tell an
 * author to update the agent name the version the agent itself enforces.
 */
export const MINIMUM_AGENT_VERSION: string = minimumAgentVersion;
