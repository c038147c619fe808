import { z } from 'zod';

/** The lowest and highest task priority; higher goes first within an endpoint's queue. */
export const MIN_TASK_PRIORITY = 0;
export const MAX_TASK_PRIORITY = 9;
/** A task submitted without a priority (and one from an older server or agent) has this one. */
export const DEFAULT_TASK_PRIORITY = 5;

/**
 * How urgent a task is, 0–9. Tasks of higher priority are dispatched first, by the server and again by
 * the agent and its workers; tasks of equal priority are shared fairly across the users of an endpoint.
 */
export const TaskPriority = z.number().int().min(MIN_TASK_PRIORITY).max(MAX_TASK_PRIORITY);
export type TaskPriority = z.infer<typeof TaskPriority>;
