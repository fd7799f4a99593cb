package storetest

var coordinationCases = []testCase{}
