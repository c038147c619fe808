import { FxException } from '../../common/fx.exception.js';
import { objectRefPath, planGraph } from './task-graph.js';

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const OLD = 'aaaaaaaa-0000-4000-8000-000000000001';
const limits = { maxRefsPerTask: 3, maxRefsPerBatch: 5 };
const item = (n: number, args: unknown[] = [], kwargs: Record<string, unknown> = {}) => ({ id: id(n), args, kwargs });

describe('planGraph (references in a submission)', () => {
  it('turns batch indexes into ids, collects inputs once each, and names the earlier tasks referred to', () => {
    const plan = planGraph(
      [
        item(0, [1]),
        item(1, [
          { $fx: 'ref', index: 0 },
          { $fx: 'ref', taskId: OLD.toUpperCase() },
        ]),
        item(2, [], {
          xs: [
            { $fx: 'ref', index: 0 },
            { $fx: 'ref', index: 1 },
            { $fx: 'ref', index: 0 },
          ],
        }),
      ],
      limits,
    );
    expect(plan.external).toEqual([OLD]);
    expect(plan.tasks[0]).toEqual({ args: [1], kwargs: {}, inputs: [], objects: [] });
    expect(plan.tasks[1]).toEqual({
      args: [
        { $fx: 'ref', taskId: id(0) },
        { $fx: 'ref', taskId: OLD },
      ],
      kwargs: {},
      inputs: [id(0), OLD],
      objects: [],
    });
    expect(plan.tasks[2]!.inputs).toEqual([id(0), id(1)]);
    expect(plan.tasks[2]!.kwargs).toEqual({
      xs: [
        { $fx: 'ref', taskId: id(0) },
        { $fx: 'ref', taskId: id(1) },
        { $fx: 'ref', taskId: id(0) },
      ],
    });
  });

  it('refuses references forward, to itself, or by id to a task of the same submission: no cycle can be built', () => {
    const refuse = (items: ReturnType<typeof item>[], message: RegExp) => {
      const e = (() => {
        try {
          planGraph(items, limits);
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(FxException);
      expect((e as FxException).code).toBe('VALIDATION_FAILED');
      expect((e as Error).message).toMatch(message);
    };
    refuse([item(0, [{ $fx: 'ref', index: 1 }]), item(1)], /only to items before it/);
    refuse([item(0), item(1, [{ $fx: 'ref', index: 1 }])], /only to items before it/);
    refuse([item(0, [{ $fx: 'ref', index: 0 }])], /only a batch's items may/);
    refuse([item(0), item(1, [{ $fx: 'ref', taskId: id(0) }])], /by id/);
    refuse([item(0, [{ $fx: 'oops' }])], /reserved key/);
  });

  it('bounds references per task and per submission', () => {
    const four = Array.from({ length: 4 }, () => ({ $fx: 'ref', taskId: OLD }));
    expect(() => planGraph([item(0, four)], limits)).toThrow(/at most 3/);
    const three = four.slice(1);
    expect(() => planGraph([item(0, three), item(1, three)], limits)).toThrow(/more than 5/);
  });

  it('unescapes user keys of a task without references, and leaves plain args as they are', () => {
    const plain = [1, { a: 2 }];
    const plan = planGraph([item(0, plain), item(1, [{ $$fx: 'mine' }])], limits);
    expect(plan.tasks[0]!.args).toBe(plain);
    expect(plan.tasks[1]).toEqual({ args: [{ $fx: 'mine' }], kwargs: {}, inputs: [], objects: [] });
  });

  it('leaves the escapes of a task with object references to their completion, which unescapes them', () => {
    const mine = { $$fx: 'object', id: id(201) };
    const args = [{ $fx: 'object', id: id(200) }, mine];
    const plan = planGraph([item(0, args)], limits);
    expect(plan.tasks[0]).toEqual({ args, kwargs: {}, inputs: [], objects: [{ $fx: 'object', id: id(200) }], escaped: true });
  });

  it('lists the object references of each task, bounded per task and per submission like task references', () => {
    const ref = (n: number) => ({ $fx: 'object', id: id(100 + n) });
    const plan = planGraph([item(0, [ref(1)], { k: { deep: [ref(2)] } }), item(1, [{ $fx: 'ref', index: 0 }, ref(3)])], limits);
    expect(plan.tasks[0]!.objects).toEqual([ref(1), ref(2)]);
    expect(plan.tasks[1]).toMatchObject({ inputs: [id(0)], objects: [ref(3)] });
    // object references stay where they are (the server completes them, the agent resolves them)
    expect(plan.tasks[1]!.args).toEqual([{ $fx: 'ref', taskId: id(0) }, ref(3)]);
    expect(() => planGraph([item(0, [ref(1), ref(2), ref(3), ref(4)])], limits)).toThrow(/refers to 4 objects; a task may refer to at most 3/);
    expect(() => planGraph([item(0, [ref(1), ref(2), ref(3)]), item(1, [ref(4), ref(5), ref(6)])], limits)).toThrow(/more than 5 objects in all/);
    expect(() => planGraph([item(0, [{ $fx: 'object', id: 'nope' }])], limits)).toThrow(/args\[0\] is not an object reference/);
  });

  it('names the path of an object reference', () => {
    const target = id(7);
    expect(objectRefPath([1, { a: [{ $fx: 'object', id: target.toUpperCase() }] }], target, 'tasks[2].args')).toBe('tasks[2].args[1].a[0]');
    expect(objectRefPath({ x: { $fx: 'ref', taskId: target } }, target, 'the task.kwargs')).toBeNull();
  });
});
