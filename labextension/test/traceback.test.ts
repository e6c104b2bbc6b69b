import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { userTraceback } from '../src/debug/traceback';

const PANDAS = `---------------------------------------------------------------------------
KeyError                                  Traceback (most recent call last)
File ~/.venv/lib/python3.11/site-packages/pandas/core/indexes/base.py:3805, in Index.get_loc(self, key)
   3804 try:
-> 3805     return self._engine.get_loc(casted_key)
   3806 except KeyError as err:

File index.pyx:167, in pandas._libs.index.IndexEngine.get_loc()

KeyError: 'Sales'

The above exception was the direct cause of the following exception:

KeyError                                  Traceback (most recent call last)
Cell In[3], line 2
      1 import pandas as pd
----> 2 total = df['Sales'].sum()

File ~/.venv/lib/python3.11/site-packages/pandas/core/frame.py:4102, in DataFrame.__getitem__(self, key)
   4100 if self.columns.nlevels > 1:
   4101     return self._getitem_multilevel(key)
-> 4102 indexer = self.columns.get_loc(key)

File ~/.venv/lib/python3.11/site-packages/pandas/core/indexes/base.py:3812, in Index.get_loc(self, key)
   3811         raise InvalidIndexError(key)
-> 3812     raise KeyError(key) from err

KeyError: 'Sales'`;

test("the debug panel shows the user's failing line and the error, not pandas' internals", () => {
  const shown = userTraceback(PANDAS);
  assert.match(shown, /^Cell In\[3\], line 2\n/);
  assert.match(shown, /----> 2 total = df\['Sales'\]\.sum\(\)/);
  assert.match(shown, /… 2 frames inside pandas \(not shown\)/);
  assert.ok(shown.endsWith("KeyError: 'Sales'"), shown);
  assert.ok(!shown.includes('get_loc'), shown);
});

test('a traceback in a function defined in another cell keeps both cells', () => {
  const tb = `ZeroDivisionError                         Traceback (most recent call last)
Cell In[5], line 1
----> 1 mean([])

Cell In[4], line 2, in mean(xs)
      1 def mean(xs):
----> 2     return sum(xs) / len(xs)

ZeroDivisionError: division by zero`;
  const shown = userTraceback(tb);
  assert.match(shown, /Cell In\[5\], line 1[\s\S]*Cell In\[4\], line 2, in mean/);
  assert.ok(shown.endsWith('ZeroDivisionError: division by zero'));
});

test('text in an unknown format keeps its end', () => {
  assert.equal(userTraceback('something odd happened'), 'something odd happened');
});
