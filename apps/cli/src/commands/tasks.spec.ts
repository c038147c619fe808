import type { Client, EndpointInfo, FunctionInfo, ListFunctionsOptions } from '@fx/sdk';
import { LISTED_FOR_NAMES, MAX_NAME_LOOKUPS, namesOf } from './tasks.js';

describe('namesOf (the names in fx tasks and fx task)', () => {
  it('lists functions without their sources and looks up only the shown ids it did not list, a bounded number', async () => {
    const listed: ListFunctionsOptions[] = [];
    const looked: string[] = [];
    const client = {
      listFunctions: async (options: ListFunctionsOptions = {}) => {
        listed.push(options);
        return [{ id: 'f1', name: 'add', source: '' }] as FunctionInfo[];
      },
      listEndpoints: async () => [{ id: 'e1', name: 'laptop' }] as EndpointInfo[],
      getFunction: async (id: string) => {
        looked.push(id);
        if (id === 'gone') throw new Error('not found');
        return { id, name: `name-of-${id}` } as FunctionInfo;
      },
    } as unknown as Client;
    const shown = ['f1', 'f1', 'gone', ...Array.from({ length: 50 }, (_, i) => `other-${i}`), 'other-0'];
    const names = await namesOf(client, shown);
    expect(listed).toEqual([{ source: false, limit: LISTED_FOR_NAMES }]);
    expect(looked).toEqual(['gone', ...Array.from({ length: MAX_NAME_LOOKUPS - 1 }, (_, i) => `other-${i}`)]);
    expect(names.get('f1')).toBe('add');
    expect(names.get('e1')).toBe('laptop');
    expect(names.get('other-3')).toBe('name-of-other-3');
    expect(names.has('gone')).toBe(false);
    expect(names.has(`other-${MAX_NAME_LOOKUPS}`)).toBe(false);
  });
});
