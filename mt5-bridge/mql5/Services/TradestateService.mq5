//+------------------------------------------------------------------+
//|                                           TradestateService.mq5  |
//| The reporter as a service: no chart, its own thread, restarted   |
//| by the terminal with it. WebRequest and socket waits happen here |
//| and hold up no chart or EA. Services get no OnTimer and no       |
//| OnTradeTransaction: the loop below calls the library every       |
//| timer period, and the library polls positions and orders.        |
//| Install: copy to MQL5\Services, compile, Navigator > Services >  |
//| right click > Add service. Run it instead of the reporter EA     |
//| (both with one InstanceId and Lane would refuse each other).     |
//+------------------------------------------------------------------+
#property service
#property copyright "Tradestate"
#property link      "https://github.com/tradestate"
#property version   "1.10"
#property description "Reports account state, positions, orders and closes to a Tradestate gateway, without a chart."

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
input int                InpLoopMs            = 250;                       // Loop period, ms

CTradestate Tradestate;

//+------------------------------------------------------------------+
void OnStart()
  {
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
   config.timer_ms=MathMax(10,InpLoopMs);
   config.ea_version="TradestateService 1.10";
   config.use_timer=false; // a service has no timer events: the loop below is the timer
   if(!Tradestate.Init(config))
      return;
   while(!IsStopped())
     {
      Tradestate.OnTimer();
      //--- Short sleeps while a batch is in flight or more is waiting; Sleep returns early
      //--- when the service is stopped.
      Sleep(Tradestate.IdleMs());
     }
   Tradestate.Deinit();
  }
//+------------------------------------------------------------------+
