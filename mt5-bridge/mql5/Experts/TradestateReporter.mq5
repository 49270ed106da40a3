//+------------------------------------------------------------------+
//|                                          TradestateReporter.mq5  |
//| Reports this terminal (account health, positions, pending orders |
//| and closes) to a Tradestate gateway. Attach it to any one chart; |
//| it does not trade and does nothing in OnTick. The service        |
//| Services/TradestateService.mq5 does the same without a chart and |
//| without sharing a chart's thread; run one or the other.          |
//| Install and inputs: mt5-bridge/README.md.                        |
//+------------------------------------------------------------------+
#property copyright "Tradestate"
#property link      "https://github.com/tradestate"
#property version   "1.10"
#property description "Reports account state, positions, orders and signals to a Tradestate gateway."
#property description "HTTP: allow the gateway's base URL in Tools > Options > Expert Advisors > 'Allow WebRequest for listed URL'."

#include <Tradestate\Tradestate.mqh>

input string             InpGatewayUrl        = "http://127.0.0.1:8080";  // Gateway base URL (HTTP transport)
input string             InpToken             = "";                        // Token for this instance
input string             InpInstanceId        = "";                        // Instance id (empty: mt5-<login>)
input string             InpLane              = "";                        // Lane (empty: the program's name)
input ENUM_TS_TRANSPORT  InpTransport         = TS_TRANSPORT_HTTP;         // Transport
input string             InpRespHost          = "127.0.0.1";               // RESP host (RESP transports)
input int                InpRespPort          = 6390;                      // RESP port (RESP transports)
input ENUM_TS_SERVER_DST InpServerDst         = TS_SERVER_DST_US;          // Trade server's daylight saving rule
input int                InpHeartbeatSeconds  = 5;                         // Heartbeat period, seconds (1..30)
input int                InpSnapshotSeconds   = 10;                        // Reconcile and positions snapshot period, seconds
input int                InpBatchMax          = 100;                       // Most updates per request
input int                InpTimeoutMs         = 5000;                      // Network timeout, ms
input int                InpBackoffMaxSeconds = 30;                        // Longest wait between retries, seconds
input int                InpCloseLookbackHours= 24;                        // Report closes of the last N hours once connected
input bool               InpShowStatus        = true;                      // Show the status in the chart corner

CTradestate Tradestate;

//+------------------------------------------------------------------+
int OnInit()
  {
   if(MQLInfoInteger(MQL_TESTER))
     {
      Print("TradestateReporter: WebRequest and sockets do not work in the Strategy Tester; attach it to a live chart");
      return(INIT_FAILED);
     }
   TsConfig config;
   TsConfigDefaults(config);
   config.url=InpGatewayUrl;
   config.token=InpToken;
   config.instance_id=InpInstanceId;
   config.lane=InpLane;
   config.transport=InpTransport;
   config.resp_host=InpRespHost;
   config.resp_port=InpRespPort;
   config.dst_rule=InpServerDst;
   config.report_state=true;
   config.heartbeat_seconds=MathMax(1,MathMin(30,InpHeartbeatSeconds));
   config.snapshot_seconds=MathMax(1,InpSnapshotSeconds);
   config.batch_max=MathMax(1,MathMin(1000,InpBatchMax));
   config.timeout_ms=MathMax(500,InpTimeoutMs);
   config.backoff_max_ms=MathMax(1,InpBackoffMaxSeconds)*1000;
   config.close_lookback_hours=MathMax(0,InpCloseLookbackHours);
   config.ea_version="TradestateReporter 1.10";
   config.use_timer=true;
   //--- Init resets the object: after an account switch (OnDeinit + OnInit on the same global)
   //--- nothing of the previous account is kept.
   if(!Tradestate.Init(config))
      return(INIT_PARAMETERS_INCORRECT);
   return(INIT_SUCCEEDED);
  }

//+------------------------------------------------------------------+
void OnDeinit(const int reason)
  {
   Tradestate.Deinit();
   if(InpShowStatus)
      Comment("");
  }

//+------------------------------------------------------------------+
//| Nothing here: all work happens in OnTimer.                       |
//+------------------------------------------------------------------+
void OnTick()
  {
  }

//+------------------------------------------------------------------+
void OnTimer()
  {
   Tradestate.OnTimer();
   if(InpShowStatus)
      Comment(Tradestate.Status());
  }

//+------------------------------------------------------------------+
void OnTradeTransaction(const MqlTradeTransaction &trans,
                        const MqlTradeRequest &request,
                        const MqlTradeResult &result)
  {
   Tradestate.OnTradeTransaction(trans,request,result);
  }
//+------------------------------------------------------------------+
