/*
 * test_expr_date.c: the date expressions of core/query/expr_date.c: the manual's examples,
 * time zones (Olson names with DST, offsets), negative dates, leap years, ISO weeks at year
 * boundaries, null and missing, and each argument error's code.
 */
#include "expr_check.h"

#define DT(s) "{'$date': '" s "'}"
#define D                                                                                          \
   "{'d': " DT("2014-01-01T08:15:39.736Z") ", 'neg': {'$date': {'$numberLong': '-1'}}, "           \
                                           "'n': null, 's': 'x', 'ts': {'$timestamp': {'t': "      \
                                           "1500000000, 'i': 1}}, "                                \
                                           "'oid': {'$oid': '5a0000000000000000000000'}}"

static void
test_parts(void **state)
{
   (void) state;
   ec_check(D, "{'$year': '$d'}", "2014");
   ec_check(D, "{'$month': '$d'}", "1");
   ec_check(D, "{'$dayOfMonth': '$d'}", "1");
   ec_check(D, "{'$hour': '$d'}", "8");
   ec_check(D, "{'$minute': '$d'}", "15");
   ec_check(D, "{'$second': '$d'}", "39");
   ec_check(D, "{'$millisecond': '$d'}", "736");
   ec_check(D, "{'$dayOfYear': '$d'}", "1");
   ec_check(D, "{'$dayOfWeek': '$d'}", "4");
   ec_check(D, "{'$week': '$d'}", "0");
   ec_check(D, "{'$isoWeek': '$d'}", "1");
   ec_check(D, "{'$isoWeekYear': '$d'}", "2014");
   ec_check(D, "{'$isoDayOfWeek': '$d'}", "3");
   ec_check(D, "{'$year': ['$d']}", "2014");
   ec_check(D, "{'$hour': {'date': '$d', 'timezone': 'America/New_York'}}", "3");
   ec_check(D, "{'$hour': {'date': '$d', 'timezone': '+04:30'}}", "12");
   ec_check(D, "{'$minute': {'date': '$d', 'timezone': '+0430'}}", "45");
   ec_check(D, "{'$hour': {'date': '$d', 'timezone': '-03'}}", "5");
   ec_check(D, "{'$hour': {'date': '$d', 'timezone': 'UTC'}}", "8");
   ec_check(D, "{'$dayOfMonth': {'date': '$d', 'timezone': 'Asia/Tokyo'}}", "1");
   ec_check(D, "{'$dayOfMonth': {'date': '$d', 'timezone': 'Pacific/Honolulu'}}", "31");
   /* Timestamps and ObjectIds are dates too. */
   ec_check(D, "{'$year': '$ts'}", "2017");
   ec_check(D, "{'$year': '$oid'}", "2017");
   ec_check(D, "{'$month': '$oid'}", "11");
   /* Null and missing. */
   ec_check(D, "{'$year': '$n'}", "null");
   ec_check(D, "{'$year': '$nope'}", "null");
   ec_check(D, "{'$year': {'date': '$d', 'timezone': null}}", "null");
   /* Errors. */
   ec_check(D, "{'$year': '$s'}", "error 16006");
   ec_check(D, "{'$year': 1}", "error 16006");
   ec_check(D, "{'$year': {'date': '$d', 'timezone': 'Mars/Olympus'}}", "error 40485");
   ec_check(D, "{'$year': {'date': '$d', 'timezone': '../../etc/passwd'}}", "error 40485");
   ec_check(D, "{'$year': {'date': '$d', 'timezone': '+4'}}", "error 40485");
   ec_check(D, "{'$year': {'date': '$d', 'timezone': 5}}", "error 40517");
   ec_check(D, "{'$year': {'date': '$d', 'foo': 1}}", "error 40535");
   ec_check(D, "{'$year': {'timezone': 'UTC'}}", "error 40539");
   ec_check(D, "{'$year': ['$d', '$d']}", "error 40536");
}

static void
test_parts_edges(void **state)
{
   (void) state;
   /* One millisecond before the epoch. */
   ec_check(D, "{'$year': '$neg'}", "1969");
   ec_check(D, "{'$month': '$neg'}", "12");
   ec_check(D, "{'$dayOfMonth': '$neg'}", "31");
   ec_check(D, "{'$hour': '$neg'}", "23");
   ec_check(D, "{'$millisecond': '$neg'}", "999");
   ec_check(D, "{'$dayOfWeek': '$neg'}", "4");
   ec_check(D, "{'$year': " DT("1600-02-29T00:00:00Z") "}", "1600");
   ec_check(D, "{'$dayOfYear': " DT("1600-12-31T00:00:00Z") "}", "366");
   /* Leap years. */
   ec_check(D, "{'$dayOfYear': " DT("2020-02-29T12:00:00Z") "}", "60");
   ec_check(D, "{'$dayOfYear': " DT("2000-12-31T00:00:00Z") "}", "366");
   ec_check(D, "{'$dayOfYear': " DT("1900-03-01T00:00:00Z") "}", "60");
   /* ISO weeks at year boundaries. */
   ec_check(D, "{'$isoWeek': " DT("2021-01-01T00:00:00Z") "}", "53");
   ec_check(D, "{'$isoWeekYear': " DT("2021-01-01T00:00:00Z") "}", "2020");
   ec_check(D, "{'$isoWeek': " DT("2018-12-31T00:00:00Z") "}", "1");
   ec_check(D, "{'$isoWeekYear': " DT("2018-12-31T00:00:00Z") "}", "2019");
   ec_check(D, "{'$isoWeek': " DT("2016-01-03T00:00:00Z") "}", "53");
   ec_check(D, "{'$isoWeekYear': " DT("2016-01-03T00:00:00Z") "}", "2015");
   ec_check(D, "{'$isoDayOfWeek': " DT("2016-01-03T00:00:00Z") "}", "7");
   ec_check(D, "{'$week': " DT("2016-01-03T00:00:00Z") "}", "1");
   ec_check(D, "{'$week': " DT("2016-12-31T00:00:00Z") "}", "52");
   ec_check(D, "{'$week': " DT("2012-12-31T00:00:00Z") "}", "53");
   /* DST in New York: 2021-03-14 02:00 EST became 03:00 EDT (07:00Z). */
   ec_check(D,
            "{'$hour': {'date': " DT("2021-03-14T06:59:59Z") ", 'timezone': 'America/New_York'}}",
            "1");
   ec_check(D,
            "{'$hour': {'date': " DT("2021-03-14T07:00:00Z") ", 'timezone': 'America/New_York'}}",
            "3");
   ec_check(D,
            "{'$hour': {'date': " DT("2021-11-07T05:30:00Z") ", 'timezone': 'America/New_York'}}",
            "1");
   ec_check(D,
            "{'$hour': {'date': " DT("2021-11-07T06:30:00Z") ", 'timezone': 'America/New_York'}}",
            "1");
   ec_check(D, "{'$hour': {'date': " DT("2023-07-01T12:00:00Z") ", 'timezone': 'Europe/Paris'}}",
            "14");
   ec_check(D, "{'$hour': {'date': " DT("2023-01-01T12:00:00Z") ", 'timezone': 'Europe/Paris'}}",
            "13");
   /* Past the tz database's last transition: its POSIX rule applies. */
   ec_check(D,
            "{'$hour': {'date': " DT("2100-07-01T12:00:00Z") ", 'timezone': 'America/New_York'}}",
            "8");
   ec_check(D,
            "{'$hour': {'date': " DT("2100-01-01T12:00:00Z") ", 'timezone': 'America/New_York'}}",
            "7");
   /* Southern hemisphere: Sydney is on daylight time in January. */
   ec_check(D,
            "{'$hour': {'date': " DT("2100-01-01T00:00:00Z") ", 'timezone': 'Australia/Sydney'}}",
            "11");
   ec_check(D,
            "{'$hour': {'date': " DT("2100-07-01T00:00:00Z") ", 'timezone': 'Australia/Sydney'}}",
            "10");
}

static void
test_date_to_string(void **state)
{
   (void) state;
   ec_check(D, "{'$dateToString': {'format': '%Y-%m-%d', 'date': '$d'}}", "'2014-01-01'");
   ec_check(D,
            "{'$dateToString': {'format': '%H:%M:%S:%L%z', 'date': '$d', 'timezone': "
            "'America/New_York'}}",
            "'03:15:39:736-0500'");
   ec_check(D, "{'$dateToString': {'format': '%H:%M:%S:%L%z', 'date': '$d', 'timezone': '+04:30'}}",
            "'12:45:39:736+0430'");
   ec_check(D, "{'$dateToString': {'format': '%Z', 'date': '$d', 'timezone': 'America/New_York'}}",
            "'-300'");
   ec_check(D, "{'$dateToString': {'format': '%Z', 'date': '$d', 'timezone': '+04:30'}}", "'+270'");
   ec_check(D, "{'$dateToString': {'date': '$d'}}", "'2014-01-01T08:15:39.736Z'");
   ec_check(D, "{'$dateToString': {'date': '$d', 'timezone': 'Europe/London'}}",
            "'2014-01-01T08:15:39.736'");
   ec_check(D, "{'$dateToString': {'date': '$d', 'timezone': 'UTC'}}",
            "'2014-01-01T08:15:39.736Z'");
   ec_check(D, "{'$dateToString': {'date': '$d', 'format': '%j %w %u %U %V %G %%'}}",
            "'001 4 3 00 01 2014 %'");
   ec_check(D, "{'$dateToString': {'date': '$d', 'format': '%b %d, %Y (%B)'}}",
            "'Jan 01, 2014 (January)'");
   ec_check(D, "{'$dateToString': {'date': " DT("2021-01-01T00:00:00Z") ", 'format': '%G-W%V-%u'}}",
            "'2020-W53-5'");
   ec_check(D, "{'$dateToString': {'date': '$neg'}}", "'1969-12-31T23:59:59.999Z'");
   ec_check(D, "{'$dateToString': {'date': '$ts', 'format': '%Y'}}", "'2017'");
   ec_check(D, "{'$dateToString': {'date': '$n'}}", "null");
   ec_check(D, "{'$dateToString': {'date': '$nope', 'onNull': 'none'}}", "'none'");
   ec_check(D, "{'$dateToString': {'date': '$n', 'onNull': '$nope'}}", "missing");
   ec_check(D, "{'$dateToString': {'date': '$d', 'format': null}}", "null");
   ec_check(D, "{'$dateToString': {'date': '$d', 'timezone': '$nope'}}", "null");
   ec_check(D, "{'$dateToString': {'date': {'$date': {'$numberLong': '253402300800000'}}}}",
            "error 18537");
   ec_check(D, "{'$dateToString': {'date': '$d', 'format': '%Q'}}", "error 18536");
   ec_check(D, "{'$dateToString': {'date': '$d', 'format': 'abc%'}}", "error 18535");
   ec_check(D, "{'$dateToString': {'date': '$d', 'format': 5}}", "error 18533");
   ec_check("{'f': '%Q'}", "{'$dateToString': {'date': '$$NOW', 'format': '$f'}}", "error 18536");
   ec_check(D, "{'$dateToString': {'date': '$s'}}", "error 16006");
   ec_check(D, "{'$dateToString': {'format': '%Y'}}", "error 18628");
   ec_check(D, "{'$dateToString': {'date': '$d', 'x': 1}}", "error 18534");
   ec_check(D, "{'$dateToString': '$d'}", "error 18629");
}

static void
test_date_from_string(void **state)
{
   (void) state;
   ec_check(D, "{'$dateFromString': {'dateString': '2017-02-08T12:10:40.787'}}",
            DT("2017-02-08T12:10:40.787Z"));
   ec_check(D,
            "{'$dateFromString': {'dateString': '2017-02-08T12:10:40.787', 'timezone': "
            "'America/New_York'}}",
            DT("2017-02-08T17:10:40.787Z"));
   ec_check(D, "{'$dateFromString': {'dateString': '2017-02-08'}}", DT("2017-02-08T00:00:00Z"));
   ec_check(D, "{'$dateFromString': {'dateString': '2017-07-04T14:56:42.911-0500'}}",
            DT("2017-07-04T19:56:42.911Z"));
   ec_check(D, "{'$dateFromString': {'dateString': '2017-07-04 14:56Z'}}",
            DT("2017-07-04T14:56:00Z"));
   ec_check(D, "{'$dateFromString': {'dateString': '2017-07-04T14:56:42 Europe/Paris'}}",
            DT("2017-07-04T12:56:42Z"));
   ec_check(D, "{'$dateFromString': {'dateString': '1969-12-31T23:59:59.999Z'}}",
            "{'$date': {'$numberLong': '-1'}}");
   ec_check(D, "{'$dateFromString': {'dateString': '06/15/2018', 'format': '%m/%d/%Y'}}",
            DT("2018-06-15T00:00:00Z"));
   ec_check(D,
            "{'$dateFromString': {'dateString': '15-06-2018 10:05:07.5 +0100', 'format': "
            "'%d-%m-%Y %H:%M:%S.%L %z'}}",
            DT("2018-06-15T09:05:07.500Z"));
   ec_check(D, "{'$dateFromString': {'dateString': '2018-W24-5', 'format': '%G-W%V-%u'}}",
            DT("2018-06-15T00:00:00Z"));
   ec_check(D, "{'$dateFromString': {'dateString': '2020-060', 'format': '%Y-%j'}}",
            DT("2020-02-29T00:00:00Z"));
   /* In a DST gap (02:30 does not exist on 2021-03-14 in New York). */
   ec_check(D,
            "{'$dateFromString': {'dateString': '2021-03-14T02:30:00', 'timezone': "
            "'America/New_York'}}",
            DT("2021-03-14T07:30:00Z"));
   ec_check(D, "{'$dateFromString': {'dateString': '2021-02-29'}}", "error 241");
   ec_check(D, "{'$dateFromString': {'dateString': '2021-02-29', 'onError': 'bad'}}", "'bad'");
   ec_check(D,
            "{'$dateFromString': {'dateString': '15-06-2018', 'format': '%m/%d/%Y', 'onError': "
            "0}}",
            "0");
   ec_check(D, "{'$dateFromString': {'dateString': 5, 'onError': 'bad'}}", "'bad'");
   ec_check(D, "{'$dateFromString': {'dateString': 5}}", "error 241");
   ec_check(D, "{'$dateFromString': {'dateString': 'nonsense'}}", "error 241");
   ec_check(D, "{'$dateFromString': {'dateString': '$n'}}", "null");
   ec_check(D, "{'$dateFromString': {'dateString': '$nope', 'onNull': 'none'}}", "'none'");
   ec_check(D, "{'$dateFromString': {'dateString': '2017-01-01', 'format': null}}", "null");
   ec_check(D, "{'$dateFromString': {'dateString': '2017-01-01Z', 'timezone': 'Europe/Paris'}}",
            "error 40554");
   ec_check(D, "{'$dateFromString': {'dateString': '2017-01-01', 'timezone': 'Nope/Nope'}}",
            "error 40485");
   ec_check(D, "{'$dateFromString': {'dateString': '2017-01-01', 'format': 1}}", "error 40684");
   ec_check(D, "{'$dateFromString': {'format': '%Y'}}", "error 40542");
   ec_check(D, "{'$dateFromString': {'dateString': 'x', 'y': 1}}", "error 40541");
   ec_check(D, "{'$dateFromString': 'x'}", "error 40540");
}

static void
test_date_to_parts(void **state)
{
   (void) state;
   ec_check(D, "{'$dateToParts': {'date': " DT("2017-01-01T01:29:09.123Z") "}}",
            "{'year': 2017, 'month': 1, 'day': 1, 'hour': 1, 'minute': 29, 'second': 9, "
            "'millisecond': 123}");
   ec_check(D, "{'$dateToParts': {'date': " DT("2017-01-01T01:29:09.123Z") ", 'iso8601': true}}",
            "{'isoWeekYear': 2016, 'isoWeek': 52, 'isoDayOfWeek': 7, 'hour': 1, 'minute': 29, "
            "'second': 9, 'millisecond': 123}");
   ec_check(D,
            "{'$dateToParts': {'date': " DT("2017-01-01T01:29:09.123Z") ", 'timezone': "
                                                                        "'America/New_York'}}",
            "{'year': 2016, 'month': 12, 'day': 31, 'hour': 20, 'minute': 29, 'second': 9, "
            "'millisecond': 123}");
   ec_check(D, "{'$dateToParts': {'date': '$neg'}}",
            "{'year': 1969, 'month': 12, 'day': 31, 'hour': 23, 'minute': 59, 'second': 59, "
            "'millisecond': 999}");
   ec_check(D, "{'$dateToParts': {'date': '$n'}}", "null");
   ec_check(D, "{'$dateToParts': {'date': '$d', 'iso8601': null}}", "null");
   ec_check(D, "{'$dateToParts': {'date': '$d', 'iso8601': 1}}", "error 40521");
   ec_check(D, "{'$dateToParts': {'date': '$s'}}", "error 16006");
   ec_check(D, "{'$dateToParts': {'timezone': 'UTC'}}", "error 40522");
   ec_check(D, "{'$dateToParts': {'date': '$d', 'x': 1}}", "error 40520");
   ec_check(D, "{'$dateToParts': 1}", "error 40524");
}

static void
test_date_from_parts(void **state)
{
   (void) state;
   ec_check(D, "{'$dateFromParts': {'year': 2017, 'month': 2, 'day': 8, 'hour': 12}}",
            DT("2017-02-08T12:00:00Z"));
   ec_check(D,
            "{'$dateFromParts': {'year': 2017, 'month': 2, 'day': 8, 'hour': 12, 'timezone': "
            "'America/New_York'}}",
            DT("2017-02-08T17:00:00Z"));
   ec_check(D, "{'$dateFromParts': {'isoWeekYear': 2017, 'isoWeek': 6, 'isoDayOfWeek': 3}}",
            DT("2017-02-08T00:00:00Z"));
   ec_check(D, "{'$dateFromParts': {'isoWeekYear': 2021}}", DT("2021-01-04T00:00:00Z"));
   ec_check(D, "{'$dateFromParts': {'year': 2017}}", DT("2017-01-01T00:00:00Z"));
   /* Out-of-range values carry, as MongoDB documents. */
   ec_check(D, "{'$dateFromParts': {'year': 2017, 'month': 14, 'day': 1}}",
            DT("2018-02-01T00:00:00Z"));
   ec_check(D, "{'$dateFromParts': {'year': 2017, 'month': 2, 'day': 0}}",
            DT("2017-01-31T00:00:00Z"));
   ec_check(D, "{'$dateFromParts': {'year': 2016, 'month': 0, 'day': 0}}",
            DT("2015-11-30T00:00:00Z"));
   ec_check(D, "{'$dateFromParts': {'year': 2020, 'month': 2, 'day': 30}}",
            DT("2020-03-01T00:00:00Z"));
   ec_check(D, "{'$dateFromParts': {'year': 2017, 'hour': 25, 'minute': -1}}",
            DT("2017-01-02T00:59:00Z"));
   ec_check(D, "{'$dateFromParts': {'year': 2017, 'millisecond': -1}}",
            DT("2016-12-31T23:59:59.999Z"));
   ec_check(D,
            "{'$dateFromParts': {'year': 1969, 'month': 12, 'day': 31, 'hour': 23, 'minute': 59, "
            "'second': 59, 'millisecond': 999}}",
            "{'$date': {'$numberLong': '-1'}}");
   ec_check(D, "{'$dateFromParts': {'year': 2017.0, 'month': {'$numberLong': '3'}}}",
            DT("2017-03-01T00:00:00Z"));
   ec_check(D, "{'$dateFromParts': {'year': '$n'}}", "null");
   ec_check(D, "{'$dateFromParts': {'year': 2017, 'month': '$nope'}}", "null");
   ec_check(D, "{'$dateFromParts': {'year': 2017.5}}", "error 40515");
   ec_check(D, "{'$dateFromParts': {'year': 'x'}}", "error 40515");
   ec_check(D, "{'$dateFromParts': {'year': 0}}", "error 40523");
   ec_check(D, "{'$dateFromParts': {'year': 10000}}", "error 40523");
   ec_check(D, "{'$dateFromParts': {'year': 2017, 'month': 40000}}", "error 31034");
   ec_check(D, "{'$dateFromParts': {'year': 2017, 'isoWeek': 1}}", "error 40489");
   ec_check(D, "{'$dateFromParts': {'month': 1}}", "error 40516");
   ec_check(D, "{'$dateFromParts': {'year': 2017, 'x': 1}}", "error 40518");
   ec_check(D, "{'$dateFromParts': 2017}", "error 40519");
   ec_check(D, "{'$dateFromParts': {'year': 2017, 'timezone': 'Nope/Nope'}}", "error 40485");
}

static void
test_date_add(void **state)
{
   (void) state;
   ec_check(
      D,
      "{'$dateAdd': {'startDate': " DT("2021-01-31T10:00:00Z") ", 'unit': 'month', 'amount': 1}}",
      DT("2021-02-28T10:00:00Z"));
   ec_check(
      D,
      "{'$dateAdd': {'startDate': " DT("2020-01-31T10:00:00Z") ", 'unit': 'month', 'amount': 1}}",
      DT("2020-02-29T10:00:00Z"));
   ec_check(
      D, "{'$dateAdd': {'startDate': " DT("2020-02-29T00:00:00Z") ", 'unit': 'year', 'amount': 1}}",
      DT("2021-02-28T00:00:00Z"));
   ec_check(
      D,
      "{'$dateAdd': {'startDate': " DT("2020-11-15T00:00:00Z") ", 'unit': 'quarter', 'amount': 1}}",
      DT("2021-02-15T00:00:00Z"));
   ec_check(D, "{'$dateAdd': {'startDate': '$d', 'unit': 'week', 'amount': -2}}",
            DT("2013-12-18T08:15:39.736Z"));
   ec_check(D, "{'$dateAdd': {'startDate': '$d', 'unit': 'millisecond', 'amount': 264}}",
            DT("2014-01-01T08:15:40Z"));
   ec_check(D, "{'$dateAdd': {'startDate': '$neg', 'unit': 'second', 'amount': 1}}",
            DT("1970-01-01T00:00:00.999Z"));
   /* Across the spring-forward change: a day in New York is 23 hours there. */
   ec_check(D,
            "{'$dateAdd': {'startDate': " DT(
               "2021-03-13T12:00:00Z") ", 'unit': 'day', 'amount': "
                                       "1, 'timezone': 'America/New_York'}}",
            DT("2021-03-14T11:00:00Z"));
   ec_check(
      D, "{'$dateAdd': {'startDate': " DT("2021-03-13T12:00:00Z") ", 'unit': 'day', 'amount': 1}}",
      DT("2021-03-14T12:00:00Z"));
   ec_check(D,
            "{'$dateAdd': {'startDate': " DT(
               "2021-03-13T12:00:00Z") ", 'unit': 'hour', 'amount': "
                                       "24, 'timezone': 'America/New_York'}}",
            DT("2021-03-14T12:00:00Z"));
   ec_check(D,
            "{'$dateSubtract': {'startDate': " DT(
               "2021-03-31T00:00:00Z") ", 'unit': 'month', 'amount': 1}}",
            DT("2021-02-28T00:00:00Z"));
   ec_check(D, "{'$dateSubtract': {'startDate': '$d', 'unit': 'day', 'amount': 1.0}}",
            DT("2013-12-31T08:15:39.736Z"));
   ec_check(D, "{'$dateAdd': {'startDate': '$ts', 'unit': 'second', 'amount': 1}}",
            "{'$date': {'$numberLong': '1500000001000'}}");
   ec_check(D, "{'$dateAdd': {'startDate': '$n', 'unit': 'day', 'amount': 1}}", "null");
   ec_check(D, "{'$dateAdd': {'startDate': '$d', 'unit': 'day', 'amount': '$nope'}}", "null");
   ec_check(D, "{'$dateAdd': {'startDate': '$s', 'unit': 'day', 'amount': 1}}", "error 5166403");
   ec_check(D, "{'$dateAdd': {'startDate': '$d', 'unit': 'days', 'amount': 1}}", "error 9");
   ec_check(D, "{'$dateAdd': {'startDate': '$d', 'unit': 1, 'amount': 1}}", "error 5439013");
   ec_check(D, "{'$dateAdd': {'startDate': '$d', 'unit': 'day', 'amount': 1.5}}", "error 5166405");
   ec_check(D,
            "{'$dateAdd': {'startDate': '$d', 'unit': 'year', 'amount': {'$numberLong': "
            "'9000000000000000000'}}}",
            "error 5166406");
   ec_check(D, "{'$dateAdd': {'startDate': '$d', 'unit': 'day'}}", "error 5166402");
   ec_check(D, "{'$dateAdd': {'startDate': '$d', 'unit': 'day', 'amount': 1, 'x': 1}}",
            "error 5166401");
   ec_check(D, "{'$dateAdd': 1}", "error 5166400");
}

static void
test_date_diff(void **state)
{
   (void) state;
   ec_check(D,
            "{'$dateDiff': {'startDate': " DT("2010-12-31T23:00:00Z") ", 'endDate': " DT(
               "2011-01-01T01:00:00Z") ", 'unit': 'year'}}",
            "{'$numberLong': '1'}");
   ec_check(D,
            "{'$dateDiff': {'startDate': " DT("2011-01-01T01:00:00Z") ", 'endDate': " DT(
               "2010-12-31T23:00:00Z") ", 'unit': 'day'}}",
            "{'$numberLong': '-1'}");
   ec_check(D,
            "{'$dateDiff': {'startDate': " DT("2020-01-15T00:00:00Z") ", 'endDate': " DT(
               "2020-08-01T00:00:00Z") ", 'unit': 'quarter'}}",
            "{'$numberLong': '2'}");
   ec_check(D,
            "{'$dateDiff': {'startDate': " DT("2020-01-31T00:00:00Z") ", 'endDate': " DT(
               "2020-03-01T00:00:00Z") ", 'unit': 'month'}}",
            "{'$numberLong': '2'}");
   /* 2024-01-06 was a Saturday. */
   ec_check(D,
            "{'$dateDiff': {'startDate': " DT("2024-01-06T00:00:00Z") ", 'endDate': " DT(
               "2024-01-07T00:00:00Z") ", 'unit': 'week'}}",
            "{'$numberLong': '1'}");
   ec_check(D,
            "{'$dateDiff': {'startDate': " DT("2024-01-06T00:00:00Z") ", 'endDate': " DT(
               "2024-01-07T00:00:00Z") ", 'unit': 'week', "
                                       "'startOfWeek': 'monday'}}",
            "{'$numberLong': '0'}");
   ec_check(D,
            "{'$dateDiff': {'startDate': " DT("2024-01-06T00:00:00Z") ", 'endDate': " DT(
               "2024-01-08T00:00:00Z") ", 'unit': 'week', "
                                       "'startOfWeek': 'MON'}}",
            "{'$numberLong': '1'}");
   ec_check(D,
            "{'$dateDiff': {'startDate': '$neg', 'endDate': " DT(
               "1970-01-01T00:00:00Z") ", 'unit': 'millisecond'}}",
            "{'$numberLong': '1'}");
   ec_check(D,
            "{'$dateDiff': {'startDate': '$neg', 'endDate': " DT(
               "1970-01-01T00:00:00Z") ", 'unit': 'second'}}",
            "{'$numberLong': '1'}");
   /* Days counted in the zone's local calendar. */
   ec_check(D,
            "{'$dateDiff': {'startDate': " DT("2021-01-01T04:00:00Z") ", 'endDate': " DT(
               "2021-01-01T06:00:00Z") ", 'unit': 'day', "
                                       "'timezone': 'America/New_York'}}",
            "{'$numberLong': '1'}");
   ec_check(D, "{'$dateDiff': {'startDate': '$n', 'endDate': '$d', 'unit': 'day'}}", "null");
   ec_check(D, "{'$dateDiff': {'startDate': '$d', 'endDate': '$d', 'unit': '$nope'}}", "null");
   ec_check(D, "{'$dateDiff': {'startDate': '$s', 'endDate': '$d', 'unit': 'day'}}",
            "error 5166307");
   ec_check(D, "{'$dateDiff': {'startDate': '$d', 'endDate': '$d', 'unit': 'fortnight'}}",
            "error 9");
   ec_check(
      D, "{'$dateDiff': {'startDate': '$d', 'endDate': '$d', 'unit': 'week', 'startOfWeek': 'x'}}",
      "error 5439016");
   ec_check(D,
            "{'$dateDiff': {'startDate': '$d', 'endDate': '$d', 'unit': 'week', 'startOfWeek': 1}}",
            "error 5439015");
   ec_check(D, "{'$dateDiff': {'startDate': '$d', 'unit': 'day'}}", "error 5166303");
   ec_check(D, "{'$dateDiff': {'startDate': '$d', 'endDate': '$d', 'unit': 'day', 'x': 1}}",
            "error 5166302");
   ec_check(D, "{'$dateDiff': 1}", "error 5166301");
}

static void
test_date_trunc(void **state)
{
   (void) state;
#define T DT("2021-03-15T13:45:17.123Z")
   ec_check(D, "{'$dateTrunc': {'date': " T ", 'unit': 'hour'}}", DT("2021-03-15T13:00:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': " T ", 'unit': 'minute', 'binSize': 15}}",
            DT("2021-03-15T13:45:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': " T ", 'unit': 'second'}}", DT("2021-03-15T13:45:17Z"));
   ec_check(D, "{'$dateTrunc': {'date': " T ", 'unit': 'day'}}", DT("2021-03-15T00:00:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': " T ", 'unit': 'week'}}", DT("2021-03-14T00:00:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': " T ", 'unit': 'week', 'startOfWeek': 'monday'}}",
            DT("2021-03-15T00:00:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': " T ", 'unit': 'month'}}", DT("2021-03-01T00:00:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': " T ", 'unit': 'month', 'binSize': 5}}",
            DT("2020-11-01T00:00:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': " T ", 'unit': 'quarter'}}", DT("2021-01-01T00:00:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': " T ", 'unit': 'year', 'binSize': 5}}",
            DT("2020-01-01T00:00:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': " T ", 'unit': 'day', 'timezone': '+05:30'}}",
            DT("2021-03-14T18:30:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': " T ", 'unit': 'day', 'timezone': 'America/New_York'}}",
            DT("2021-03-15T04:00:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': '$neg', 'unit': 'day'}}", DT("1969-12-31T00:00:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': '$neg', 'unit': 'year'}}", DT("1969-01-01T00:00:00Z"));
   ec_check(D, "{'$dateTrunc': {'date': '$n', 'unit': 'day'}}", "null");
   ec_check(D, "{'$dateTrunc': {'date': '$d', 'unit': 'day', 'binSize': null}}", "null");
   ec_check(D, "{'$dateTrunc': {'date': '$s', 'unit': 'day'}}", "error 5439012");
   ec_check(D, "{'$dateTrunc': {'date': '$d', 'unit': 'days'}}", "error 9");
   ec_check(D, "{'$dateTrunc': {'date': '$d', 'unit': 'day', 'binSize': 0}}", "error 5439018");
   ec_check(D, "{'$dateTrunc': {'date': '$d', 'unit': 'day', 'binSize': 1.5}}", "error 5439017");
   ec_check(D, "{'$dateTrunc': {'unit': 'day'}}", "error 5439009");
   ec_check(D, "{'$dateTrunc': {'date': '$d'}}", "error 5439010");
   ec_check(D, "{'$dateTrunc': {'date': '$d', 'unit': 'day', 'x': 1}}", "error 5439008");
   ec_check(D, "{'$dateTrunc': 1}", "error 5439007");
#undef T
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parts),          cmocka_unit_test(test_parts_edges),
      cmocka_unit_test(test_date_to_string), cmocka_unit_test(test_date_from_string),
      cmocka_unit_test(test_date_to_parts),  cmocka_unit_test(test_date_from_parts),
      cmocka_unit_test(test_date_add),       cmocka_unit_test(test_date_diff),
      cmocka_unit_test(test_date_trunc),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
