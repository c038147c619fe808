import { CommanderError } from 'commander';
import { AuthenticationError, ConnectionError, NotFoundError, SerializationError, ServerError, TaskFailedError, ValidationError } from '@fx/sdk';
import { describeFailure } from './cli.errors.js';
import { CliError } from '@fx/cli-kit';

describe('exit codes', () => {
  it('0 for help and version, 2 for usage', () => {
    expect(describeFailure(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)')).exitCode).toBe(0);
    expect(describeFailure(new CommanderError(1, 'commander.missingMandatoryOptionValue', 'x'))).toEqual({ exitCode: 2 });
    expect(describeFailure(new CliError('bad', 2))).toEqual({ exitCode: 2, message: 'bad' });
    expect(describeFailure(new SerializationError('args[0]', 'NaN cannot travel as JSON')).exitCode).toBe(2);
  });

  it('1 with a sentence for failed tasks and requests, not found and unauthenticated included', () => {
    const failed = describeFailure(new TaskFailedError('t1', { code: 'TASK_ERROR', name: 'TypeError', message: 'boom' }));
    expect(failed).toEqual({ exitCode: 1, message: 'task t1 failed: TypeError: boom' });
    expect(describeFailure(new NotFoundError('NOT_FOUND', 'no such task'))).toEqual({ exitCode: 1, message: 'not found: no such task' });
    expect(describeFailure(new AuthenticationError('UNAUTHENTICATED', 'token revoked')).message).toMatch(/refused the token.*fx login/);
    expect(describeFailure(new ConnectionError('CONNECTION_FAILED', 'ECONNREFUSED')).message).toMatch(/cannot reach the server/);
    expect(describeFailure(new ValidationError('VALIDATION_FAILED', 'bad')).exitCode).toBe(1);
    expect(describeFailure(new ServerError('INTERNAL', 'oops'))).toEqual({ exitCode: 1, message: 'INTERNAL: oops' });
    expect(describeFailure(new Error('surprise'))).toEqual({ exitCode: 1, message: 'unexpected error: surprise' });
  });

  it('a CliError without a sentence exits quietly (the command reported already)', () => {
    expect(describeFailure(new CliError('', 1))).toEqual({ exitCode: 1, message: '' });
  });
});
