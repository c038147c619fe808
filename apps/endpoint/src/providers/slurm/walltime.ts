// Slurm's time formats live in config/walltime.ts (config.yaml's slurm.walltime is validated with them,
// and config modules import no provider); the Slurm provider keeps importing them from here.
export { formatWalltime, parseWalltime } from '../../config/walltime.js';
