package storetest

var monitoringCases = []testCase{}
