/*
 * compare.c: MongoDB's total order over BSON values ("Comparison/Sort Order" in the manual).
 *
 * Values of different type brackets order by bracket; within a bracket by value. The bracket
 * numbers are those of mongo's canonicalizeBSONType, so that gaps leave the same room.
 */
#include "bson/compare.h"

#include <string.h>

#include "bson/collation.h"
#include "bson/numeric.h"

static int compare_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
static int compare_subdocuments(const bson_iter_t *a, const bson_iter_t *b,
                                const fe_collator_t *collator);

int
compare_type_bracket(bson_type_t type)
{
   switch (type) {
   case BSON_TYPE_MINKEY:
      return -1;
   case BSON_TYPE_EOD:
   case BSON_TYPE_UNDEFINED:
      return 0;
   case BSON_TYPE_NULL:
      return 5;
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_DECIMAL128:
      return 10;
   case BSON_TYPE_UTF8:
   case BSON_TYPE_SYMBOL:
      return 15;
   case BSON_TYPE_DOCUMENT:
      return 20;
   case BSON_TYPE_ARRAY:
      return 25;
   case BSON_TYPE_BINARY:
      return 30;
   case BSON_TYPE_OID:
      return 35;
   case BSON_TYPE_BOOL:
      return 40;
   case BSON_TYPE_DATE_TIME:
      return 45;
   case BSON_TYPE_TIMESTAMP:
      return 47;
   case BSON_TYPE_REGEX:
      return 50;
   case BSON_TYPE_DBPOINTER:
      return 55;
   case BSON_TYPE_CODE:
      return 60;
   case BSON_TYPE_CODEWSCOPE:
      return 65;
   case BSON_TYPE_MAXKEY:
      return 127;
   }
   return 0;
}

int
compare_values(const bson_iter_t *a, const bson_iter_t *b)
{
   return compare_values_collated(a, b, NULL);
}

int
compare_values_collated(const bson_iter_t *a, const bson_iter_t *b, const fe_collator_t *collator)
{
   bson_type_t ta = bson_iter_type(a), tb = bson_iter_type(b);
   int ba = compare_type_bracket(ta), bb = compare_type_bracket(tb);

   if (ba != bb) {
      return ba < bb ? -1 : 1;
   }
   switch (ta) {
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_DECIMAL128:
      if (ta == BSON_TYPE_INT32 && tb == BSON_TYPE_INT32) {
         int32_t x = bson_iter_int32(a), y = bson_iter_int32(b);
         return (x > y) - (x < y);
      }
      return numeric_compare(a, b);
   case BSON_TYPE_UTF8:
   case BSON_TYPE_SYMBOL: {
      uint32_t la, lb;
      const char *sa = ta == BSON_TYPE_UTF8 ? bson_iter_utf8(a, &la) : bson_iter_symbol(a, &la);
      const char *sb = tb == BSON_TYPE_UTF8 ? bson_iter_utf8(b, &lb) : bson_iter_symbol(b, &lb);
      return collation_compare(collator, sa, la, sb, lb);
   }
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY:
      return compare_subdocuments(a, b, collator);
   case BSON_TYPE_BINARY: {
      bson_subtype_t sa, sb;
      uint32_t la, lb;
      const uint8_t *da, *db;
      bson_iter_binary(a, &sa, &la, &da);
      bson_iter_binary(b, &sb, &lb, &db);
      /* MongoDB orders binData by length first, then subtype, then bytes. */
      if (la != lb) {
         return la < lb ? -1 : 1;
      }
      if (sa != sb) {
         return sa < sb ? -1 : 1;
      }
      return compare_bytes(da, la, db, lb);
   }
   case BSON_TYPE_OID: {
      int c = memcmp(bson_iter_oid(a)->bytes, bson_iter_oid(b)->bytes, 12);
      return (c > 0) - (c < 0);
   }
   case BSON_TYPE_BOOL:
      return (int) bson_iter_bool(a) - (int) bson_iter_bool(b);
   case BSON_TYPE_DATE_TIME: {
      int64_t x = bson_iter_date_time(a), y = bson_iter_date_time(b);
      return (x > y) - (x < y);
   }
   case BSON_TYPE_TIMESTAMP: {
      uint32_t ta_t, ta_i, tb_t, tb_i;
      bson_iter_timestamp(a, &ta_t, &ta_i);
      bson_iter_timestamp(b, &tb_t, &tb_i);
      if (ta_t != tb_t) {
         return ta_t < tb_t ? -1 : 1;
      }
      return (ta_i > tb_i) - (ta_i < tb_i);
   }
   case BSON_TYPE_REGEX: {
      const char *oa, *ob;
      const char *pa = bson_iter_regex(a, &oa), *pb = bson_iter_regex(b, &ob);
      int c = strcmp(pa, pb);
      if (c == 0) {
         c = strcmp(oa, ob);
      }
      return (c > 0) - (c < 0);
   }
   case BSON_TYPE_DBPOINTER: {
      uint32_t la, lb;
      const char *ca, *cb;
      const bson_oid_t *oa, *ob;
      bson_iter_dbpointer(a, &la, &ca, &oa);
      bson_iter_dbpointer(b, &lb, &cb, &ob);
      if (la != lb) {
         return la < lb ? -1 : 1;
      }
      int c = memcmp(ca, cb, la);
      if (c == 0) {
         c = memcmp(oa->bytes, ob->bytes, 12);
      }
      return (c > 0) - (c < 0);
   }
   case BSON_TYPE_CODE: {
      uint32_t la, lb;
      const char *ca = bson_iter_code(a, &la), *cb = bson_iter_code(b, &lb);
      return compare_bytes((const uint8_t *) ca, la, (const uint8_t *) cb, lb);
   }
   case BSON_TYPE_CODEWSCOPE: {
      uint32_t la, lb, sla, slb;
      const uint8_t *sa, *sb;
      const char *ca = bson_iter_codewscope(a, &la, &sla, &sa);
      const char *cb = bson_iter_codewscope(b, &lb, &slb, &sb);
      int c = compare_bytes((const uint8_t *) ca, la, (const uint8_t *) cb, lb);
      if (c == 0) {
         bson_t da, db;
         if (bson_init_static(&da, sa, sla) && bson_init_static(&db, sb, slb)) {
            c = compare_documents(&da, &db);
         }
      }
      return c;
   }
   case BSON_TYPE_EOD:
   case BSON_TYPE_UNDEFINED:
   case BSON_TYPE_NULL:
   case BSON_TYPE_MINKEY:
   case BSON_TYPE_MAXKEY:
      return 0;
   }
   return 0;
}

bool
compare_values_equal(const bson_iter_t *a, const bson_iter_t *b)
{
   return compare_values(a, b) == 0;
}

static int
compare_iters(bson_iter_t *ia, bson_iter_t *ib, const fe_collator_t *collator)
{
   for (;;) {
      bool more_a = bson_iter_next(ia), more_b = bson_iter_next(ib);
      if (!more_a || !more_b) {
         return (int) more_a - (int) more_b;
      }
      int ba = compare_type_bracket(bson_iter_type(ia));
      int bb = compare_type_bracket(bson_iter_type(ib));
      if (ba != bb) {
         return ba < bb ? -1 : 1;
      }
      int c = strcmp(bson_iter_key(ia), bson_iter_key(ib));
      if (c != 0) {
         return c < 0 ? -1 : 1;
      }
      c = compare_values_collated(ia, ib, collator);
      if (c != 0) {
         return c;
      }
   }
}

int
compare_documents(const bson_t *a, const bson_t *b)
{
   return compare_documents_collated(a, b, NULL);
}

int
compare_documents_collated(const bson_t *a, const bson_t *b, const fe_collator_t *collator)
{
   bson_iter_t ia, ib;
   if (!bson_iter_init(&ia, a) || !bson_iter_init(&ib, b)) {
      return 0;
   }
   return compare_iters(&ia, &ib, collator);
}

static int
compare_subdocuments(const bson_iter_t *a, const bson_iter_t *b, const fe_collator_t *collator)
{
   bson_iter_t ia, ib;
   if (!bson_iter_recurse(a, &ia) || !bson_iter_recurse(b, &ib)) {
      return 0;
   }
   return compare_iters(&ia, &ib, collator);
}

static int
compare_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
   size_t n = alen < blen ? alen : blen;
   int c = n == 0 ? 0 : memcmp(a, b, n);
   if (c != 0) {
      return c < 0 ? -1 : 1;
   }
   return (alen > blen) - (alen < blen);
}
